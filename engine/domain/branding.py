"""Email branding (issue 22): what a service's emails show above and below the message.

Rules:
- Three kinds, set per service through the admin API: ``none`` (the default: the email
  is exactly as before branding existed), ``fip`` (a Government of Canada signature, the
  flag symbol and "Government of Canada / Gouvernement du Canada", English first unless
  ``default_branding_is_french``; a "Canada" wordmark in the footer), ``organisation``
  (the service's own logo, alt text its brand name, on a bar of its colour; no footer).
  That is GC's layout (utils ``email_template.jinja2`` and its partials; shared/reference/
  gc-features.md 1.4-1.5): the signature alone at the top of the email, before the
  message; the wordmark at the bottom, right-aligned; an organisation's logo on a
  coloured bar (GC's default colour #0b0c0c when none is set).
- Unlike GC: the wordmark's alt text follows the signature's order (GC's is English first
  even in a French-first email), and the images are our own drawings
  (engine/static/branding/*.svg, rasterised to PNG by scripts/branding-assets), not GC's.
- Every image is served by the engine itself, by absolute URL under ``asset_base``
  (``NOTIFY_PUBLIC_URL``): ``static/branding/<file>.png`` for the shipped images,
  ``static/branding/logos/<service>/<digest>`` for an uploaded logo (a new logo is a new
  URL, so clients may cache forever). No external host. Why not ``data:`` URIs: Gmail and
  Outlook do not show them. Why not CID attachments (``multipart/related``): every email
  would be raw MIME, so SES's bulk send (50 emails a call, ``NOTIFY_SES_MODE=bulk``) could
  no longer carry them, each email would weigh the images again, and a preview (HTML
  only) could not be the sent HTML. The cost of served images: clients that block remote
  images show the alt texts (both languages) until the reader allows them.
- ``frame`` is pure and cached per (branding, base URL): a send only concatenates.
"""

from __future__ import annotations

import functools
import html
import re

import msgspec

KINDS = ("none", "fip", "organisation")
DEFAULT_COLOUR = "#0b0c0c"
COLOUR = re.compile(r"#[0-9a-f]{6}")
# Logos: what a mail client shows (PNG, JPEG, GIF), by their first bytes, at most 1 MiB.
LOGO_MAX_BYTES = 1024 * 1024
LOGO_TYPES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/gif": b"GIF8",
}

SIGNATURE_ALT = {
    False: "Government of Canada / Gouvernement du Canada",
    True: "Gouvernement du Canada / Government of Canada",
}
WORDMARK_ALT = {
    False: "Symbol of the Government of Canada / Symbole du gouvernement du Canada",
    True: "Symbole du gouvernement du Canada / Symbol of the Government of Canada",
}
STATIC_FILES = ("gc-signature-en.png", "gc-signature-fr.png", "canada-wordmark.png")


class Branding(msgspec.Struct, frozen=True):
    """A service's branding settings (hashable: ``frame`` is cached by them)."""

    kind: str = "none"
    french_first: bool = False
    name: str | None = None
    colour: str | None = None
    logo: str | None = None  # "logos/<service id>/<digest>": an uploaded logo's path


class Frame(msgspec.Struct, frozen=True):
    """HTML around the message: ``header`` before it, ``footer`` after it."""

    header: str = ""
    footer: str = ""


NO_FRAME = Frame()


def asset_base(public_url: str, host: str, port: int) -> str:
    """The absolute base of branding images, ending in '/': ``NOTIFY_PUBLIC_URL``, else
    the engine's own address (reachable only where the engine is: set the public URL)."""
    if public_url:
        return public_url.rstrip("/") + "/"
    return f"http://{host}:{port}/"


def colour_problem(value: str) -> str | None:
    if COLOUR.fullmatch(value) is None:
        return "brand_colour must be a colour like #1a2b3c (# and 6 hexadecimal digits)"
    return None


def logo_problem(content_type: str, data: bytes) -> str | None:
    """Why an uploaded logo is refused (None: accepted)."""
    magic = LOGO_TYPES.get(content_type)
    if magic is None:
        return "A logo must be image/png, image/jpeg or image/gif"
    if len(data) > LOGO_MAX_BYTES:
        return "A logo must be at most 1 MiB"
    if not data.startswith(magic):
        return "The logo's content does not match its Content-Type"
    return None


def _img(src: str, alt: str, width: int | None, height: int) -> str:
    size = f' width="{width}"' if width else ""
    return (
        f'<img src="{html.escape(src)}" alt="{html.escape(alt)}"{size} height="{height}"'
        ' style="display: block; border: 0; max-width: 100%;">'
    )


@functools.lru_cache(maxsize=1024)
def frame(branding: Branding, base: str) -> Frame:
    """The header and footer of ``branding``, its images under ``base``."""
    static = f"{base}static/branding/"
    if branding.kind == "fip":
        french = branding.french_first
        signature = "gc-signature-fr.png" if french else "gc-signature-en.png"
        header = (
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"'
            ' border="0" style="margin: 0 0 30px 0;"><tr><td align="left">'
            f"{_img(static + signature, SIGNATURE_ALT[french], 286, 55)}</td></tr></table>\n"
        )
        footer = (
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"'
            ' border="0" style="margin: 30px 0 0 0;"><tr><td align="right">'
            f"{_img(static + 'canada-wordmark.png', WORDMARK_ALT[french], 123, 55)}"
            "</td></tr></table>\n"
        )
        return Frame(header, footer)
    if branding.kind == "organisation":
        colour = branding.colour or DEFAULT_COLOUR
        name = html.escape(branding.name or "")
        if branding.logo:
            inner = _img(static + branding.logo, branding.name or "", None, 54)
        else:
            inner = (
                '<span style="font-family: Helvetica, Arial, sans-serif; font-size: 24px;'
                f' font-weight: bold; color: #ffffff;">{name}</span>'
            )
        header = (
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"'
            f' border="0" style="margin: 0 0 30px 0;"><tr><td align="left" bgcolor="{colour}"'
            f' style="background-color: {colour}; border-radius: 4px; padding: 10px;">'
            f"{inner}</td></tr></table>\n"
        )
        return Frame(header, "")
    return NO_FRAME

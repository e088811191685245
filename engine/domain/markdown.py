"""Notify's email markdown, rendered to HTML and to plain text (contract section 6).

Supported, as GC Notify does: ``#`` (h2) and ``##`` (h3) headings, bullet and numbered
lists, ``^`` inset text, ``---`` horizontal rules, ``[text](url)`` links and bare URLs,
``**bold**`` and ``_emphasis_``. Raw HTML is escaped, never passed through; code blocks and
images are not features of Notify and render as plain paragraphs / links.

The HTML is wrapped in a small accessible layout (language attribute, title, a readable
width, real headings and lists) with inline styles, since mail clients drop style sheets.
Pure functions only; the mistune parsers are built once at import.

Bilingual blocks (GC Notify's ``[[en]]``, ``[[fr]]``, ``[[rtl]]``; issue 22; GC's rules
in utils ``formatters.py`` / ``template.py``, summarised in shared/reference/gc-features.md
section 1):

- ``[[fr]]...[[/fr]]`` is ``<div lang="fr-ca">``, ``[[en]]...[[/en]]`` ``<div
  lang="en-ca">``, ``[[rtl]]...[[/rtl]]`` ``<div dir="rtl">``. Tags are exact and lower
  case (``[[EN]]``, ``[[en]`` stay text). Blocks nest (a French block inside an English
  one is a nested div); markdown works inside a block as outside.
- Balance rule, as GC: the language tags are converted only when ``[[en]]`` and
  ``[[/en]]`` are as many, and ``[[fr]]`` and ``[[/fr]]`` too; else none of them is, and
  they stay literal text. ``[[rtl]]`` is counted on its own. We add one condition GC lacks
  (its conversion is positional string replacement): no closing tag before its opening
  one (``[[/fr]]x[[fr]]`` has equal counts and gave ``</div>`` before ``<div>``), so the
  HTML is always well-formed.
- A tag is a block boundary wherever it stands: text before it on its line ends a
  paragraph, text after it starts one. GC does this by fencing each tag as a code block
  before markdown, but fences ``[[en]]`` without a leading new line, so ``Intro
  [[en]]A[[/en]]`` gave malformed HTML (a div opened inside a ``<p>``, literal
  backticks). Here every tag splits the text into markdown segments, rendered one by one
  between the divs: well-formed for every tag, ``[[en]]`` included.
- The plain-text part has no tags: GC leaves the literal ``[[en]]`` lines in text/plain;
  we drop converted tags and put a blank line between sections. Unconverted (unbalanced)
  tags stay literal in both parts, as in GC's HTML.
- The document's language: GC hard-codes ``<html lang="en">``. ``template_lang`` gives
  the language of a template whose content starts with a language block (``fr`` for
  ``[[fr]]``, ``en`` for ``[[en]]``); ``html_layout`` writes it, else the caller's
  language (a service default when one exists; ``en`` otherwise).
- Tags are found in the template, not in personalisation: ``mark_blocks`` replaces the
  template's convertible tags with markers (U+0000, a digit, U+0000: U+0000 cannot
  reach a value, the API refuses it and PostgreSQL cannot store it) once per template
  version, and ``marked_to_html`` / ``marked_to_text`` render marked text. A value
  holding ``[[fr]]`` stays text (in GC it opened a section). Rendering still closes every
  div it opened and ignores a close with nothing open, so a conditional placeholder that
  hides one tag of a pair cannot unbalance the HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import mistune
from mistune.renderers.html import HTMLRenderer

_FONT = "font-family: Helvetica, Arial, sans-serif; color: #0b0c0c;"
_P = f'<p style="margin: 0 0 20px 0; font-size: 19px; line-height: 25px; {_FONT}">'
_INSET = re.compile(r"^\^ ?", re.MULTILINE)


def _preprocess(text: str) -> str:
    # ``^`` at the start of a line is Notify's inset text: a block quote in markdown terms.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _INSET.sub("> ", text)


class _NotifyHtml(HTMLRenderer):
    def heading(self, text: str, level: int, **attrs: Any) -> str:
        if level == 1:
            return (
                '<h2 style="margin: 0 0 15px 0; font-size: 27px; line-height: 35px;'
                f' font-weight: bold; {_FONT}">{text}</h2>\n'
            )
        if level == 2:
            return (
                '<h3 style="margin: 0 0 15px 0; font-size: 19px; line-height: 25px;'
                f' font-weight: bold; {_FONT}">{text}</h3>\n'
            )
        return self.paragraph(text)

    def paragraph(self, text: str) -> str:
        return f"{_P}{text}</p>\n"

    def block_quote(self, text: str) -> str:
        return (
            '<blockquote style="margin: 0 0 20px 0; border-left: 10px solid #b1b4b6;'
            f' padding: 15px 0 0.1px 15px;">\n{text}</blockquote>\n'
        )

    def thematic_break(self) -> str:
        return '<hr style="border: 0; height: 1px; background: #b1b4b6; margin: 30px 0;">\n'

    def list(self, text: str, ordered: bool, **attrs: Any) -> str:
        tag = "ol" if ordered else "ul"
        return (
            f'<{tag} style="margin: 0 0 20px 0; padding: 0 0 0 20px; font-size: 19px;'
            f' line-height: 25px; {_FONT}">\n{text}</{tag}>\n'
        )

    def list_item(self, text: str) -> str:
        return f'<li style="margin: 5px 0;">{text}</li>\n'

    def link(self, text: str, url: str, title: str | None = None) -> str:
        return f'<a style="color: #1d70b8;" href="{self.safe_url(url)}">{text}</a>'

    def image(self, text: str, url: str, title: str | None = None) -> str:
        return self.link(text, url)

    def block_code(self, code: str, info: str | None = None) -> str:
        return self.paragraph(html.escape(code.strip()).replace("\n", "<br>"))

    def codespan(self, text: str) -> str:
        return html.escape(text)


class _PlainText(HTMLRenderer):
    """Renders the same tree as readable plain text (the email's text/plain part)."""

    def text(self, text: str) -> str:
        return text

    def emphasis(self, text: str) -> str:
        return text

    def strong(self, text: str) -> str:
        return text

    def link(self, text: str, url: str, title: str | None = None) -> str:
        return url if text in (url, "") else f"{text}: {url}"

    def image(self, text: str, url: str, title: str | None = None) -> str:
        return self.link(text, url)

    def codespan(self, text: str) -> str:
        return text

    def linebreak(self) -> str:
        return "\n"

    def softbreak(self) -> str:
        return "\n"

    def inline_html(self, html: str) -> str:
        return html

    def paragraph(self, text: str) -> str:
        return f"{text}\n\n"

    def heading(self, text: str, level: int, **attrs: Any) -> str:
        # A fixed-width rule: its length must not depend on personalisation.
        return f"{text}\n{'-' * 60}\n\n" if level <= 2 else f"{text}\n\n"

    def blank_line(self) -> str:
        return ""

    def thematic_break(self) -> str:
        return "=" * 60 + "\n\n"

    def block_text(self, text: str) -> str:
        return text

    def block_code(self, code: str, info: str | None = None) -> str:
        return f"{code.strip()}\n\n"

    def block_quote(self, text: str) -> str:
        return text

    def block_html(self, html: str) -> str:
        return f"{html}\n\n"

    def list(self, text: str, ordered: bool, **attrs: Any) -> str:
        if not ordered:
            return text + "\n"
        lines = [line for line in text.split("\n") if line]
        return "".join(f"{i}. {line[2:]}\n" for i, line in enumerate(lines, 1)) + "\n"

    def list_item(self, text: str) -> str:
        return f"• {text.strip()}\n"


_to_html = mistune.create_markdown(escape=True, renderer=_NotifyHtml(escape=True), plugins=["url"])
_to_text = mistune.create_markdown(escape=False, renderer=_PlainText(escape=False), plugins=["url"])
_BLANK_RUNS = re.compile(r"\n{3,}")


# -- bilingual blocks -----------------------------------------------------------------------
_TAG = re.compile(r"\[\[(/?)(en|fr|rtl)\]\]")
_MARK = re.compile(r"\x00([0-3])\x00")
_OPEN_MARK = {"en": "\x000\x00", "fr": "\x001\x00", "rtl": "\x002\x00"}
_CLOSE_MARK = "\x003\x00"
_OPEN_HTML = ('<div lang="en-ca">', '<div lang="fr-ca">', '<div dir="rtl">')
_LEADING_BLOCK = re.compile(r"\s*\x00([01])\x00")


def _ordered(tags: list[tuple[str, str]], kinds: tuple[str, ...]) -> bool:
    """Each kind opened and closed as many times, never closed before it is opened."""
    depth = dict.fromkeys(kinds, 0)
    for close, kind in tags:
        if kind in depth:
            depth[kind] += -1 if close else 1
            if depth[kind] < 0:
                return False
    return not any(depth.values())


def mark_blocks(text: str) -> str:
    """The template's convertible block tags replaced by markers (the balance rule above);
    once per template version. Text without tags is returned as it is."""
    if "[[" not in text:
        return text
    tags = [(m[1], m[2]) for m in _TAG.finditer(text)]
    if not tags:
        return text
    convert = set()
    if _ordered(tags, ("en", "fr")):
        convert |= {"en", "fr"}
    if _ordered(tags, ("rtl",)):
        convert.add("rtl")
    if not convert:
        return text

    def marker(m: re.Match[str]) -> str:
        if m[2] not in convert:
            return m[0]
        return _CLOSE_MARK if m[1] else _OPEN_MARK[m[2]]

    return _TAG.sub(marker, text)


def template_lang(marked: str) -> str | None:
    """``fr`` or ``en`` when marked template text starts with that language's block."""
    m = _LEADING_BLOCK.match(marked)
    return None if m is None else ("en", "fr")[int(m[1])]


def _blocks(marked: str, segment: Callable[[str], str], html: bool) -> str:
    """Render each markdown segment between markers, the divs around them."""
    parts = _MARK.split(marked)
    out: list[str] = []
    depth = 0
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if part.strip():
                out.append(segment(part))
        elif part != "3":
            depth += 1
            if html:
                out.append(_OPEN_HTML[int(part)])
        elif depth:
            depth -= 1
            if html:
                out.append("</div>\n")
    if html:
        out.extend("</div>\n" for _ in range(depth))
    return "".join(out)


def _segment_html(text: str) -> str:
    return str(_to_html(_preprocess(text)))


def _segment_text(text: str) -> str:
    return str(_to_text(_preprocess(text))).strip() + "\n\n"


def marked_to_html(marked: str) -> str:
    """The HTML body of text marked by ``mark_blocks``."""
    if "\x00" not in marked:
        return _segment_html(marked)
    return _blocks(marked, _segment_html, html=True)


def marked_to_text(marked: str) -> str:
    """The plain text of text marked by ``mark_blocks``: no tags, a blank line between
    sections."""
    if "\x00" not in marked:
        plain = str(_to_text(_preprocess(marked)))
    else:
        plain = _blocks(marked, _segment_text, html=False)
    return _BLANK_RUNS.sub("\n\n", plain).strip()


def markdown_to_html(text: str) -> str:
    return marked_to_html(mark_blocks(text))


def markdown_to_text(text: str) -> str:
    return marked_to_text(mark_blocks(text))


def html_layout(
    body: str, subject: str, lang: str = "en", header: str = "", footer: str = ""
) -> str:
    """Wrap rendered content in the email's HTML document; ``header`` and ``footer`` (a
    service's branding, ``engine.domain.branding``) go before and after it."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(subject)}</title>\n</head>\n"
        '<body style="margin: 0; padding: 0; background: #ffffff;">\n'
        f'<div role="article" aria-label="{html.escape(subject)}" lang="{lang}"'
        ' style="max-width: 580px; margin: 0 auto; padding: 20px 10px;">\n'
        f"{header}{body}{footer}</div>\n</body>\n</html>\n"
    )

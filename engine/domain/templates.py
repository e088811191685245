"""Compiled email and SMS templates: fill personalisation, render, count.

A template version is compiled once (the engine caches it per template id, version and
SMS prefix) and rendered per notification:

- Email: the subject is filled as plain text (white space collapsed). The body is Notify
  markdown rendered to HTML (in the email layout) and to plain text. Personalisation is
  HTML-escaped in the HTML part.
- Bilingual blocks (``[[en]]``, ``[[fr]]``, ``[[rtl]]``; rules in ``engine.domain.markdown``)
  are found once, at compile time, in the template's own text (``mark_blocks``): the
  per-notification render only renders marked text, so a personalisation value cannot
  open or close a block. The document's ``lang``: the template's when its content starts
  with a ``[[fr]]`` or ``[[en]]`` block, else ``render``'s ``lang`` argument (``en``
  unless the caller knows better, e.g. a service default).
- SMS: filled as plain text, lists as "a, b and c", the service-name prefix added when the
  service has it, typographic characters downgraded; then counted (``engine.domain.sms``).

Speed: markdown rendering is the costliest step of ingest, so a template without
conditionals is rendered once with sentinel tokens where its placeholders stand, and each
notification only substitutes its values into the rendered HTML and text. That is exact
when a value cannot change the markdown structure, so values holding markdown syntax,
URLs, new lines or lists take the full render. Pure functions and plain objects only.
Bilingual blocks cost nothing per notification on the fast path (the divs are in the
pre-rendered HTML); the full render renders each block's markdown apart, measured no
slower than one render of the same text (bench/api.py's bilingual template, CPU time,
main vs this, 4 pairs taking turns: fast path 12.8-15.6 us vs 12.9-13.3 us, full render
1.34-1.67 ms vs 1.26-1.32 ms).
"""

from __future__ import annotations

import html
import re

import msgspec

from engine.domain import placeholders as ph
from engine.domain import sms
from engine.domain.branding import NO_FRAME, Frame
from engine.domain.markdown import (
    html_layout,
    mark_blocks,
    marked_to_html,
    marked_to_text,
    template_lang,
)
from engine.domain.placeholders import MissingPersonalisation, placeholders

__all__ = [
    "SMS_CHAR_COUNT_LIMIT",
    "CompiledEmailTemplate",
    "CompiledSmsTemplate",
    "MissingPersonalisation",
    "RenderedEmail",
    "RenderedSms",
    "placeholders",
]

SMS_CHAR_COUNT_LIMIT = sms.SMS_CHAR_COUNT_LIMIT
_WHITESPACE = re.compile(r"\s+")
# A value made only of these cannot start or end markdown syntax inside a line.
_PLAIN_VALUE = re.compile(r"[\w .,'’@:;!?&%$€£=+/-]*")
_LIST_START = re.compile(r"^(\d+[.)]\s|[-+]\s?)")
_SENTINEL = re.compile(r"NTFYPLACEHOLDER(\d+)X")
_SENTINEL_IN_URL = re.compile(r'href="[^"]*?NTFYPLACEHOLDER(\d+)X')
# In a URL a value is percent-encoded by the markdown renderer; these need no encoding.
_URL_SAFE_VALUE = re.compile(r"[A-Za-z0-9._~-]*")


class RenderedEmail(msgspec.Struct, frozen=True):
    subject: str
    html: str  # the whole HTML document
    text: str  # the text/plain part, also the ``body`` Notify reports


class RenderedSms(msgspec.Struct, frozen=True):
    body: str
    char_count: int
    fragment_count: int


def _plain_value(value: object) -> bool:
    if isinstance(value, list | tuple | dict):
        return False
    text = ph.as_text(value)
    return (
        _PLAIN_VALUE.fullmatch(text) is not None
        # Markdown strips whitespace at the edges of a block (a heading's end, a
        # paragraph's start), which a value spliced into the pre-rendered text would keep.
        and text == text.strip()
        and "://" not in text
        and "www." not in text
        and _LIST_START.match(text) is None
    )


class CompiledEmailTemplate:
    __slots__ = (
        "_fast_html",
        "_fast_text",
        "_found",
        "_keys",
        "_marked",
        "_url_keys",
        "content",
        "lang",
        "subject",
    )

    def __init__(self, subject: str, content: str) -> None:
        self.subject = subject
        self.content = content
        self._marked = mark_blocks(content)
        self.lang = template_lang(self._marked)  # None: no leading language block
        self._found = ph.find(subject) + ph.find(content)
        self._fast_html: list[str | int] | None = None
        self._fast_text: list[str | int] | None = None
        self._keys: list[str] = []
        self._url_keys: list[str] = []
        if not any(p.conditional is not None for p in self._found):
            self._compile_fast()

    def _compile_fast(self) -> None:
        index: dict[str, int] = {}

        def token(match: re.Match[str]) -> str:
            key = ph.parse(match[1]).key
            number = index.setdefault(key, len(index))
            return f"NTFYPLACEHOLDER{number}X"

        tokenised = ph.PLACEHOLDER.sub(token, self._marked)
        self._keys = list(index)
        rendered_html = marked_to_html(tokenised)
        in_urls = {int(m[1]) for m in _SENTINEL_IN_URL.finditer(rendered_html)}
        self._url_keys = [key for key, number in index.items() if number in in_urls]
        self._fast_html = _split(rendered_html)
        self._fast_text = _split(marked_to_text(tokenised))

    def render(
        self,
        personalisation: dict[str, object],
        *,
        with_html: bool = True,
        lang: str = "en",
        frame: Frame = NO_FRAME,
    ) -> RenderedEmail:
        """Subject, HTML document and text. ``with_html=False`` leaves ``html`` empty:
        for rows stored now and sent later, whose HTML is rendered at send time. ``lang``
        is the document's language unless the template starts with a language block;
        ``frame`` the service's branding (``engine.domain.branding``)."""
        values = ph.normalise_values(personalisation)
        ph.check_missing(self._found, values)
        subject = _WHITESPACE.sub(" ", ph.fill(self.subject, values)).strip()
        if (
            self._fast_html is not None
            and self._fast_text is not None
            and all(_plain_value(values[k]) for k in self._keys)
            and all(_URL_SAFE_VALUE.fullmatch(ph.as_text(values[k])) for k in self._url_keys)
        ):
            texts = [ph.as_text(values[k]) for k in self._keys]
            text = _join(self._fast_text, texts)
            if not with_html:
                return RenderedEmail(subject, "", text)
            # Values land only in text nodes (or URL-safe in an href), as mistune escapes them.
            body_html = _join(self._fast_html, [html.escape(t, quote=False) for t in texts])
        else:
            # Whether or not the template has blocks: a marker in a value would make one.
            values = _without_markers(values)
            filled = ph.fill(self._marked, values, lists=ph.markdown_list)
            text = marked_to_text(filled)
            if not with_html:
                return RenderedEmail(subject, "", text)
            body_html = marked_to_html(filled)
        document = html_layout(body_html, subject, self.lang or lang, frame.header, frame.footer)
        return RenderedEmail(subject, document, text)


def choose_language(has_french: bool, asked: str | None, default: str) -> tuple[str | None, str]:
    """Language-aware sending (issue 22): ``(version, document language)`` of a send that
    asked for ``asked`` (None: it did not) from a service whose default is ``default``.
    A template with a French version is sent in the language asked, else the default;
    its ``version`` (``en`` or ``fr``) is what the notification records. A template with
    one version is sent as it is (``version`` None, as before), the language only its
    document's ``lang`` (``en`` unless asked or the service's default says otherwise)."""
    language = asked or default
    return (language if has_french else None), language


class CompiledSmsTemplate:
    __slots__ = ("_found", "content", "prefix")

    def __init__(self, content: str, *, prefix: str | None = None) -> None:
        self.content = content
        self.prefix = prefix
        self._found = ph.find(content)

    def render(self, personalisation: dict[str, object]) -> RenderedSms:
        values = ph.normalise_values(personalisation)
        ph.check_missing(self._found, values)
        body = sms.sanitise(ph.fill(self.content, values))
        if self.prefix and body:
            body = f"{self.prefix}: {body}"
        return RenderedSms(body, len(body), sms.fragment_count(body))


def _without_markers(values: ph.Values) -> ph.Values:
    """Values without U+0000, the block markers' character (the API already refuses it:
    this keeps the rule that only the template's tags make blocks, whoever calls)."""

    def clean(value: object) -> object:
        if isinstance(value, str):
            return value.replace("\x00", "")
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return {k: clean(v) for k, v in values.items()}


def _split(rendered: str) -> list[str | int]:
    """Rendered text with sentinels -> literal parts and value indexes, alternating."""
    parts: list[str | int] = []
    last = 0
    for m in _SENTINEL.finditer(rendered):
        parts.append(rendered[last : m.start()])
        parts.append(int(m[1]))
        last = m.end()
    parts.append(rendered[last:])
    return parts


def _join(parts: list[str | int], values: list[str]) -> str:
    return "".join(values[p] if isinstance(p, int) else p for p in parts)

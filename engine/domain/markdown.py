"""Notify's email markdown, rendered to HTML and to plain text (contract section 6).

Supported, as GC Notify does: ``#`` (h2) and ``##`` (h3) headings, bullet and numbered
lists, ``^`` inset text, ``---`` horizontal rules, ``[text](url)`` links and bare URLs,
``**bold**`` and ``_emphasis_``. Raw HTML is escaped, never passed through; code blocks and
images are not features of Notify and render as plain paragraphs / links.

The HTML is wrapped in a small accessible layout (language attribute, title, a readable
width, real headings and lists) with inline styles, since mail clients drop style sheets.
Pure functions only; the mistune parsers are built once at import.
"""

from __future__ import annotations

import html
import re
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


def markdown_to_html(text: str) -> str:
    return str(_to_html(_preprocess(text)))


def markdown_to_text(text: str) -> str:
    plain = str(_to_text(_preprocess(text)))
    return _BLANK_RUNS.sub("\n\n", plain).strip()


def html_layout(body: str, subject: str, lang: str = "en") -> str:
    """Wrap rendered content in the email's HTML document."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(subject)}</title>\n</head>\n"
        '<body style="margin: 0; padding: 0; background: #ffffff;">\n'
        f'<div role="article" aria-label="{html.escape(subject)}" lang="{lang}"'
        ' style="max-width: 580px; margin: 0 auto; padding: 20px 10px;">\n'
        f"{body}</div>\n</body>\n</html>\n"
    )

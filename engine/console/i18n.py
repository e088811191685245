"""The console's words, in English and in French (written for Canadian French readers).

Rules:
- Every string a page shows comes from ``TEXT`` (``engine.console.words``, a module per
  area): one key, both languages (a test checks that each key has both and that the
  French differs where it should).
- The language is the ``ne_lang`` cookie's (set by the toggle, kept a year), else the
  request's ``Accept-Language`` (``engine.api.i18n.choose``), else English.
- Numbers are written as each language writes them (12,345 / 12 345).
"""

from __future__ import annotations

from engine.api import i18n as api_i18n
from engine.console.words import TEXT
from engine.domain.team_mail import number

LANGUAGES = ("en", "fr")
COOKIE = "ne_lang"


def choose(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    return api_i18n.choose(accept_language)


class Words:
    """``t("key", name=...)`` in one language; ``n(12345)`` written as it writes numbers."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._index = LANGUAGES.index(language)

    def __call__(self, key: str, **values: object) -> str:
        text = TEXT[key][self._index]
        return text.format(**values) if values else text

    def n(self, value: int) -> str:
        return number(value, self.language)

"""``sanitise_content_for`` (GOV.UK, contract section 1.2): make chosen personalisation
values inert in an email.

Rules:
- Keys are matched ignoring case and white space, like placeholders.
- URLs are broken up so no mail client or our markdown makes a link of them: ``://``
  becomes ``: //`` and a dot followed by a letter or digit gets a space (``a.b`` ->
  ``a. b``).
- In the body, markdown characters ``[`*_()\\{}[]<>#+-.!|]`` are escaped with a
  backslash, so they show as typed. The subject is plain text: it gets the broken-up URLs
  but no backslashes.
- Only string values are touched; lists and other values pass unchanged.
Pure functions only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import msgspec

from engine.domain.placeholders import normalise_key

_MARKDOWN = re.compile(r"([`*_()\\{}\[\]<>#+\-.!|])")
_DOT = re.compile(r"\.(?=\w)")


class Sanitised(msgspec.Struct, frozen=True):
    unsanitised: str
    sanitised: str


def break_urls(value: str) -> str:
    return _DOT.sub(". ", value.replace("://", ": //"))


def escape_markdown(value: str) -> str:
    return _MARKDOWN.sub(r"\\\1", value)


def sanitise(
    personalisation: Mapping[str, object], keys: Iterable[str]
) -> tuple[dict[str, object], dict[str, object], dict[str, Sanitised]]:
    """Return (values for the body, values for the subject, report keyed as given)."""
    wanted = {normalise_key(k) for k in keys}
    body: dict[str, object] = dict(personalisation)
    subject: dict[str, object] = dict(personalisation)
    report: dict[str, Sanitised] = {}
    for key, value in personalisation.items():
        if normalise_key(key) not in wanted or not isinstance(value, str):
            continue
        broken = break_urls(value)
        body[key] = escape_markdown(broken)
        subject[key] = broken
        report[key] = Sanitised(value, str(body[key]))
    return body, subject, report

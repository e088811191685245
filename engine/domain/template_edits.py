"""The rules of a template written by a person or a program: what a version must have, and
what changed between two versions.

Rules (the admin API, ``/v2/manage-template`` and the console all hold to them):
- Email and SMS only. A name is required and at most GC's 255 characters; content is
  required and within GC's limits (``engine.domain.template_categories``); an email needs
  a subject.
- The French version (issue 22) is optional: its content (``content_fr``) makes the
  template bilingual and is held to the same limit; an email's French subject
  (``subject_fr``) needs the French content beside it (without it there is no French
  version to head). An email with French content and no French subject is sent with the
  English subject, as the sender does.
- The console also requires a category (GC's admin asks for one, as the API's POST does);
  the category decides the process type (``TemplateCategory.process_type``).
- A version saved in the console names its author as ``console:<user id>`` (``author``),
  not by email address (personal data stays sealed in ``console_users``); pages show the
  user's name (``console_author`` finds the id). The API's versions name their key.
- ``problems`` answers ``(field, code)`` pairs in the order of the form; the words for each
  code are the caller's (API messages in English, the console's in both languages).
Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import msgspec

from engine.domain import template_categories as tc
from engine.domain.placeholders import placeholders

TYPES = ("email", "sms")
# The fields of a version a person changes, in the order a form shows them.
VERSIONED = ("name", "template_category_id", "subject", "content", "subject_fr", "content_fr")


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """One version as written: ``None`` for an absent French version or subject."""

    template_type: str
    name: str
    subject: str | None
    content: str
    subject_fr: str | None
    content_fr: str | None
    category_id: str  # as given (a form's value); checked by ``problems``


def subject_missing(template_type: str, subject: str | None) -> bool:
    return template_type == "email" and not (subject or "").strip()


def french_subject_alone(subject_fr: str | None, content_fr: str | None) -> bool:
    """A French subject without the French version it would head."""
    return subject_fr is not None and content_fr is None


def draft_from_form(fields: Mapping[str, str], template_type: str) -> Draft:
    """A form's fields as a draft: text trimmed at the edges; an empty French body means
    no French version (and so no French subject); SMS have no subjects."""

    def text(name: str) -> str:
        return fields.get(name, "").strip()

    email = template_type == "email"
    content_fr = text("content_fr") or None
    return Draft(
        template_type=template_type,
        name=text("name"),
        subject=text("subject") if email else None,
        content=text("content"),
        subject_fr=(text("subject_fr") or None) if email else None,
        content_fr=content_fr,
        category_id=text("template_category_id"),
    )


def category_of(draft: Draft) -> tc.TemplateCategory | None:
    try:
        return tc.find(uuid.UUID(draft.category_id))
    except ValueError:
        return None


def problems(draft: Draft) -> list[tuple[str, str]]:
    """``(field, code)`` for each rule the draft breaks, in the form's order."""
    found: list[tuple[str, str]] = []
    if draft.template_type not in TYPES:
        found.append(("template_type", "type_missing"))
    if not draft.name:
        found.append(("name", "name_missing"))
    elif tc.name_too_long(draft.name):
        found.append(("name", "name_too_long"))
    if category_of(draft) is None:
        found.append(("template_category_id", "category_missing"))
    if subject_missing(draft.template_type, draft.subject):
        found.append(("subject", "subject_missing"))
    if not draft.content:
        found.append(("content", "content_missing"))
    elif tc.content_too_long(draft.template_type, draft.content) is not None:
        found.append(("content", "content_too_long"))
    if french_subject_alone(draft.subject_fr, draft.content_fr):
        found.append(("content_fr", "french_subject_alone"))
    if draft.content_fr and tc.content_too_long(draft.template_type, draft.content_fr):
        found.append(("content_fr", "content_fr_too_long"))
    return found


def languages(content_fr: str | None) -> tuple[str, ...]:
    """The versions a template has: English always, French when it has French content."""
    return ("en", "fr") if content_fr is not None else ("en",)


def placeholder_names(*texts: str | None) -> list[str]:
    """The distinct placeholders of the texts (subjects and bodies), as first written."""
    return placeholders("\n".join(t for t in texts if t))


def changed(older: Mapping[str, object] | None, newer: Mapping[str, object]) -> list[str]:
    """The versioned fields ``newer`` changed from ``older`` (every field set at first)."""
    if older is None:
        return [f for f in VERSIONED if newer.get(f) is not None]
    return [f for f in VERSIONED if older.get(f) != newer.get(f)]


_AUTHOR = "console:"


def author(user_id: uuid.UUID) -> str:
    return f"{_AUTHOR}{user_id}"


def console_author(created_by: str) -> uuid.UUID | None:
    """The console user who saved a version, or None (the API's key name, the admin's)."""
    if not created_by.startswith(_AUTHOR):
        return None
    try:
        return uuid.UUID(created_by[len(_AUTHOR) :])
    except ValueError:
        return None

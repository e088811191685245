"""The console's sending and activity (issue 27): what its forms mean, as pure rules.

Rules:
- A one-off send asks for one value per placeholder of the template, in the order they are
  first written (the subject's first, then the content's; the French version's that the
  English lacks after them). A field left blank is left out of the personalisation, so
  admission refuses it with the API's own "Missing personalisation" error.
- Activity filters by channel and by GC's three status groups (``STATUS_GROUPS``: sending,
  delivered, failed); anything else is "all".
- A search is by reference, and by recipient when the text is an email address or a phone
  number (``recipient_of``): the recipient is normalised as admission normalises it and
  looked up by its keyed hash (``store.notifications.by_recipient``), never compared clear.
- An upload's row is shown as the line of the file a spreadsheet shows: the first data row
  is line 2, under the header (``file_line``).
"""

from __future__ import annotations

from engine.domain import statuses as st
from engine.domain.placeholders import placeholders
from engine.domain.recipients import (
    InvalidRecipient,
    validate_email_address,
    validate_phone_number,
)

CHANNELS = ("email", "sms")
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "sending": (st.CREATED, st.SENDING, st.PENDING, st.PENDING_VIRUS_CHECK),
    "delivered": (st.DELIVERED, st.SENT),
    "failed": (*st.FAILURE_STATUSES, st.CANCELLED),
}
PAGE_SIZE = 50


def fields_of(
    subject: str | None, content: str, subject_fr: str | None = None, content_fr: str | None = None
) -> list[str]:
    """The placeholder names a one-off send asks for, in order, each once."""
    text = "\n".join(t for t in (subject, content, subject_fr, content_fr) if t)
    return placeholders(text)


def personalisation(names: list[str], values: list[str]) -> dict[str, str]:
    """The values given, by placeholder name; blank ones left out (admission names them)."""
    return {name: value for name, value in zip(names, values, strict=True) if value.strip()}


def statuses_of(group: str) -> list[str]:
    return list(STATUS_GROUPS.get(group, ()))


def recipient_of(text: str, region: str) -> tuple[str, str] | None:
    """(channel, normalised recipient) when ``text`` is an email address or a phone
    number (in the service's region), else None."""
    text = text.strip()
    if not text:
        return None
    if "@" in text:
        try:
            return "email", validate_email_address(text)
        except InvalidRecipient:
            return None
    try:
        return "sms", validate_phone_number(text, region).e164
    except InvalidRecipient:
        return None


def file_line(row_number: int) -> int:
    """The file's line of data row ``row_number`` (from 1), under its header line."""
    return row_number + 1

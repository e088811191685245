"""An accepted notification: the one place that builds its stored row, its provider
message and the API's answer.

The record is the stored row (``NotificationRow``, in COPY column order): what a request
accepted is exactly what is committed, and everything else is built from it.

- ``accepted_row``: the row of a single POST or of one bulk row, from what the request
  shares with its siblings (``RowSpec``: one per POST, one per job) and the row's own
  recipient, personalisation and rendering. An email stores its subject and text body, an
  SMS its body; billable units are 1 for an email, the fragments for an SMS.
- ``outbound``: the provider message of a row, fresh (single POSTs, small jobs: the
  rendering is at hand) or stored (the job feeder, recovery's requeue: ``stored_outbound``
  renders the email's HTML again, as the HTML is not stored, from the template version and
  personalisation the row was created with). A row is read by column name
  (``row["id"]``), so a ``NotificationRow`` and a database record go through the same
  builder. The row's subject is sent; the rendered one only if the row has none (so a
  sanitised subject stays sanitised). The message carries the row's ``owner`` (the
  registration it was claimed under: the fence of ``engine.domain.ownership``).
- ``post_response``: the 201 of a single POST, from the row.
- ``sender_address`` / ``from_address``: an email's sender, the service's own address or
  its ``email_from`` at its sending domain (else the engine's).

Why the row is the record: it is built on every path anyway (it is what is committed),
so a separate "accepted" struct would be one more object per row on the bulk path; the
message and the 201 read what they need from it.

Cost (bulk is hot: 50,000 rows per request): a row is one ``NotificationRow`` built
straight from its parts, no intermediate object per row (the call to ``accepted_row``
costs ~0.07 us a row, 3.5 ms of a 50,000-row job, measured against the former inline
build); ``new_ids`` takes one ``os.urandom`` call per job (uuid4 per row costs a system
call and a slow constructor each: a measurable share of a 50,000-row request). Ids are
time-ordered (UUIDv7 of the row's ``created_at``): ``created_window`` turns ids into the
range of ``created_at`` their rows lie in, so a lookup by id names the partition key of
the time-partitioned table (``engine.store.partitions``). A fresh
message reads its row through ``__getitem__`` (~0.5 us more than attribute access, once
per single POST; stored rows were always read by column name).

The provider messages (``EmailMessage``, ``SmsMessage``, ``Attachment``) are pure data
defined here; ``engine.providers.base`` holds what providers do with them. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec

from engine.domain import statuses as st
from engine.domain.branding import NO_FRAME, Frame
from engine.domain.sanitise import Sanitised
from engine.domain.templates import (
    CompiledEmailTemplate,
    CompiledSmsTemplate,
    RenderedEmail,
    RenderedSms,
)

# -- the record ---------------------------------------------------------------------------


class NotificationRow(msgspec.Struct, kw_only=True):
    """One row of ``notifications``, in COPY column order."""

    id: uuid.UUID
    service_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    api_key_id: uuid.UUID | None
    key_type: str
    notification_type: str
    recipient: str
    status: str
    client_reference: str | None
    personalisation: str | None  # JSON text
    subject: str | None
    body: str
    reply_to_text: str | None
    process_type: str
    billable_units: int
    job_id: uuid.UUID | None
    job_row_number: int | None
    scheduled_for: dt.datetime | None
    unsubscribe_url: str | None
    created_at: dt.datetime
    owner: uuid.UUID | None = None
    # The template version sent, "en" or "fr", for a template with a French version.
    language: str | None = None
    # The send's own delivery-status callback URL (issue 23, migration 0012). Last: the
    # store leaves the column out of a batch in which no row has one.
    callback_url: str | None = None

    def __getitem__(self, column: str) -> Any:
        """By column name, like a stored row (``outbound`` reads both)."""
        return getattr(self, column)


class StoredRow(Protocol):
    """A row read by column name: a ``NotificationRow`` or a database record."""

    def __getitem__(self, column: str, /) -> Any: ...


class RowSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What every row of one accepted request shares (a single POST, or a bulk job)."""

    service_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    api_key_id: uuid.UUID | None  # None: the engine's own mail (engine.domain.team_mail)
    key_type: str
    channel: str
    lane: str
    sender: str | None
    reference: str | None
    scheduled_for: dt.datetime | None
    created_at: dt.datetime
    owner: uuid.UUID | None
    job_id: uuid.UUID | None = None
    language: str | None = None  # the template version sent (choose_language)


_encode_json = msgspec.json.encode


def accepted_row(
    spec: RowSpec,
    notification_id: uuid.UUID,
    recipient: str,
    personalisation: dict[str, Any],
    rendered: RenderedEmail | RenderedSms,
    *,
    row_number: int | None = None,
    subject: str | None = None,
    unsubscribe_url: str | None = None,
    callback_url: str | None = None,
) -> NotificationRow:
    """The ``created`` row of one notification. ``subject`` replaces the rendered one (a
    sanitised subject); ``row_number`` is the row's place in its job, from 1."""
    if isinstance(rendered, RenderedEmail):
        subject, body, units = rendered.subject if subject is None else subject, rendered.text, 1
    else:
        subject, body, units = None, rendered.body, rendered.fragment_count
    return NotificationRow(
        id=notification_id,
        service_id=spec.service_id,
        template_id=spec.template_id,
        template_version=spec.template_version,
        api_key_id=spec.api_key_id,
        key_type=spec.key_type,
        notification_type=spec.channel,
        recipient=recipient,
        status=st.CREATED,
        client_reference=spec.reference,
        personalisation=_encode_json(personalisation).decode() if personalisation else None,
        subject=subject,
        body=body,
        reply_to_text=spec.sender,
        process_type=spec.lane,
        billable_units=units,
        job_id=spec.job_id,
        job_row_number=row_number,
        scheduled_for=spec.scheduled_for,
        unsubscribe_url=unsubscribe_url,
        created_at=spec.created_at,
        owner=spec.owner,
        language=spec.language,
        callback_url=callback_url,
    )


def new_ids(count: int, at: dt.datetime) -> list[uuid.UUID]:
    """``count`` time-ordered (version 7, RFC 9562) UUIDs carrying ``at`` to the
    millisecond: give the row's ``created_at``, so ``id_time`` finds its partition.
    Built as integers (the 74 random bits of each id from ``_random``) and made without
    ``UUID.__init__`` (``_uuid_of``): 2.8 us for one id against 4.6 us through
    ``uuid.UUID(int=...)`` and 3.1 us for ``uuid.uuid4()`` (best of 5, 100,000 calls,
    a 2-core machine under load; the twelfth session had 1.3 us for uuid4 unloaded)."""
    head = int(at.timestamp() * 1000) << 80 | 0x7 << 76 | 0b10 << 62
    raw = _random(10 * count)
    ids = []
    for i in range(0, 10 * count, 10):
        r = int.from_bytes(raw[i : i + 10], "big")
        ids.append(_uuid_of(head | (r >> 68) << 64 | (r & _RAND_B)))
    return ids


def _uuid_of(value: int) -> uuid.UUID:
    """``uuid.UUID(int=value)`` for a value known to be a valid 128-bit version 7 id,
    without the constructor's argument checks (most of its cost): the two slots the
    constructor sets, set the same way (``tests/domain/test_notification.py`` holds
    the result equal to the constructor's in value, hash, text and version)."""
    made = _new_object(uuid.UUID)
    _set_slot(made, "int", value)
    _set_slot(made, "is_safe", uuid.SafeUUID.unknown)
    return made


_new_object = object.__new__
_set_slot = object.__setattr__


_RAND_B = (1 << 62) - 1
# Random bytes for ids are drawn from the OS 2,560 at a time: under bench/api.py py-spy
# put 3-4% of the engine's samples in the per-request ``os.urandom`` call (a system call,
# slow in a VM under load), for uuid4 before and new_ids alike. Ids are not secrets (they
# name rows; document links carry their own ``uuid4``), and each byte is used once. The
# lock: ids are made on the trio thread and by the store's thread (uncontended, ~0.1 us).
_POOL_BYTES = 2560
_pool = b""
_pool_next = 0
_pool_lock = threading.Lock()


def _random(size: int) -> bytes:
    global _pool, _pool_next
    if size > _POOL_BYTES:
        return os.urandom(size)
    with _pool_lock:
        start = _pool_next
        if start + size > len(_pool):
            _pool, start = os.urandom(_POOL_BYTES), 0
        _pool_next = start + size
        return _pool[start : start + size]


# How far a row's ``created_at`` may lie from its id's time: both come from the same
# ``created_at`` in ``new_ids``, whose float milliseconds may truncate one below the row's,
# so the row is within [id ms, id ms + 2 ms). The window is what a lookup by id names:
# one daily partition, and no more rows than the ids' own span. It was a minute either
# side: PostgreSQL 18's skip scan then read the list index over every row of those two
# minutes for a status write's 100 ids (107,528 rows filtered out, 46,000 buffers, in
# bench/e2e.py at 300,000 notifications, the range's estimate being stale statistics'
# "one row"); within the ids' own span that plan reads about the rows it writes.
ID_TIME_SLACK = dt.timedelta(milliseconds=2)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EVERY = (_EPOCH, dt.datetime(9999, 1, 1, tzinfo=dt.UTC))


def id_time(notification_id: uuid.UUID) -> dt.datetime | None:
    """The creation time a version 7 id carries (to the millisecond); None for others
    (ids made before time-ordered ids, random)."""
    if notification_id.version != 7:
        return None
    ms = int.from_bytes(notification_id.bytes[:6], "big")
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)


def created_window(ids: Iterable[uuid.UUID]) -> tuple[dt.datetime, dt.datetime]:
    """``[lo, hi)`` holding the ``created_at`` of every row of ``ids``: what lets a lookup
    by id name the partition key. Every time if one id is not time-ordered. On the ids'
    integers (version and milliseconds by shifts), with two datetimes made at the end: a
    status write's batch of 20 ids took 39 us through ``id_time``, 3.5 us so."""
    lo = hi = -1
    for notification_id in ids:
        n = notification_id.int
        if (n >> 76) & 0xF != 7:
            return _EVERY
        ms = n >> 80
        if lo < 0 or ms < lo:
            lo = ms
        if ms > hi:
            hi = ms
    if lo < 0:
        return _EVERY
    return (
        _EPOCH + dt.timedelta(milliseconds=lo) - ID_TIME_SLACK,
        _EPOCH + dt.timedelta(milliseconds=hi) + ID_TIME_SLACK,
    )


# -- the provider message -----------------------------------------------------------------


class Attachment(msgspec.Struct, frozen=True, kw_only=True):
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


class EmailMessage(msgspec.Struct, frozen=True, kw_only=True, tag="email"):
    notification_id: uuid.UUID
    service_id: uuid.UUID
    to: str
    from_address: str  # "Name <local@domain>"
    reply_to: str | None
    subject: str
    html: str
    text: str
    unsubscribe_url: str | None = None
    attachments: tuple[Attachment, ...] = ()
    key_type: str = "normal"
    lane: str = "normal"
    created_at: dt.datetime | None = None
    # The registration the row was claimed under (engine.domain.ownership): the provider
    # actor's writes are conditional on it. None: unfenced (tests without a store).
    owner: uuid.UUID | None = None


class SmsMessage(msgspec.Struct, frozen=True, kw_only=True, tag="sms"):
    notification_id: uuid.UUID
    service_id: uuid.UUID
    to: str  # E.164
    body: str
    sender: str | None
    key_type: str = "normal"
    lane: str = "normal"
    created_at: dt.datetime | None = None
    owner: uuid.UUID | None = None  # as EmailMessage's


Outbound = EmailMessage | SmsMessage


class SendingService(Protocol):
    """What an email's sender is made of (``engine.services.Service`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def email_from(self) -> str: ...
    @property
    def sending_domain(self) -> str | None: ...


def sender_address(service: SendingService, domain: str) -> str:
    if "@" in service.email_from:
        return service.email_from
    return f"{service.email_from}@{service.sending_domain or domain}"


def from_address(service: SendingService, domain: str) -> str:
    """``Name <local@domain>``, an email's From."""
    return f"{service.name} <{sender_address(service, domain)}>"


def outbound(
    row: StoredRow,
    rendered: RenderedEmail | None,
    from_address: str,
    attachments: tuple[Attachment, ...] = (),
) -> Outbound:
    """The provider message of a row; ``rendered`` (an email's) gives its HTML, and its
    subject if the row has none. SMS need nothing but the row."""
    if row["notification_type"] == "email":
        assert rendered is not None
        subject = row["subject"]
        return EmailMessage(
            notification_id=row["id"],
            service_id=row["service_id"],
            to=row["recipient"],
            from_address=from_address,
            reply_to=row["reply_to_text"],
            subject=rendered.subject if subject is None else subject,
            html=rendered.html,
            text=row["body"],
            unsubscribe_url=row["unsubscribe_url"],
            attachments=attachments,
            key_type=row["key_type"],
            lane=row["process_type"],
            created_at=row["created_at"],
            owner=row["owner"],
        )
    return SmsMessage(
        notification_id=row["id"],
        service_id=row["service_id"],
        to=row["recipient"],
        body=row["body"],
        sender=row["reply_to_text"],
        key_type=row["key_type"],
        lane=row["process_type"],
        created_at=row["created_at"],
        owner=row["owner"],
    )


def stored_language(row: StoredRow) -> str | None:
    """The template version a stored row was created in (None: the only one)."""
    try:
        language: str | None = row["language"]
    except KeyError:  # a row read without the column: rows from before it
        return None
    return language


def stored_outbound(
    row: StoredRow,
    compiled: CompiledEmailTemplate | CompiledSmsTemplate,
    from_address: str,
    attachments: tuple[Attachment, ...] = (),
    *,
    frame: Frame = NO_FRAME,
    lang: str = "en",
) -> Outbound:
    """The provider message of a stored row: an email's HTML is rendered again from the
    template version (``compiled``: the row's language version) and personalisation it
    was created with, in the service's branding (``frame``); ``lang`` the document's
    language when the row has none."""
    rendered = None
    if row["notification_type"] == "email":
        assert isinstance(compiled, CompiledEmailTemplate)
        rendered = compiled.render(
            msgspec.json.decode(row["personalisation"] or "{}"),
            lang=stored_language(row) or lang,
            frame=frame,
        )
    return outbound(row, rendered, from_address, attachments)


# -- the API's answer ---------------------------------------------------------------------


class TemplateRef(msgspec.Struct, frozen=True):
    id: str
    version: int
    uri: str


class EmailContent(msgspec.Struct, frozen=True):
    from_email: str
    body: str
    subject: str
    one_click_unsubscribe_url: str | None  # GOV.UK's echo of the request's link


class SmsContent(msgspec.Struct, frozen=True):
    body: str
    from_number: str | None


class PostResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    reference: str | None
    content: EmailContent | SmsContent
    uri: str
    template: TemplateRef
    scheduled_for: str | None
    # Only when the request had sanitise_content_for (GOV.UK).
    sanitised_content: dict[str, Sanitised] | None = None


def post_response(
    row: NotificationRow,
    base_url: str,
    sender: str,
    scheduled_for: str | None,
    sanitised: dict[str, Sanitised] | None = None,
) -> PostResponse:
    """The 201 of a single POST. ``sender``: an email's ``sender_address`` (unused for an
    SMS, whose sender is the row's); ``scheduled_for`` as the request wrote it."""
    content: EmailContent | SmsContent
    if row.notification_type == "email":
        content = EmailContent(sender, row.body, row.subject or "", row.unsubscribe_url)
    else:
        content = SmsContent(row.body, row.reply_to_text)
    return PostResponse(
        id=str(row.id),
        reference=row.client_reference,
        content=content,
        uri=f"{base_url}v2/notifications/{row.id}",
        template=TemplateRef(
            str(row.template_id),
            row.template_version,
            f"{base_url}services/{row.service_id}/templates/{row.template_id}",
        ),
        scheduled_for=scheduled_for,
        sanitised_content=sanitised,
    )

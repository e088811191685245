"""What every provider shares: the messages it sends, the results and receipts it returns,
and the error categories provider-specific failures are mapped to at the boundary.

    ProviderError
    ├── ProviderThrottled   slow down and retry (429, SES Throttling, SNS Throttled)
    ├── ProviderRetryable   retry later (5xx, timeouts, connection errors)
    └── ProviderRejected    never retry this message (bad address, content rejected)

A provider sends a batch and returns one ``SendResult`` per message, in order. Receipts
(delivery, bounce, complaint) arrive later and are keyed by the provider's reference.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

Channel = Literal["email", "sms"]
Outcome = Literal["accepted", "throttled", "retryable", "rejected"]


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


class SmsMessage(msgspec.Struct, frozen=True, kw_only=True, tag="sms"):
    notification_id: uuid.UUID
    service_id: uuid.UUID
    to: str  # E.164
    body: str
    sender: str | None
    key_type: str = "normal"
    lane: str = "normal"
    created_at: dt.datetime | None = None


Outbound = EmailMessage | SmsMessage


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    notification_id: uuid.UUID
    outcome: Outcome
    reference: str | None = None
    # Status after a successful hand-off: email -> sending, SMS -> sent (GC semantics).
    status: str | None = None
    detail: str | None = None
    retry_after: float | None = None


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's later word on a message: maps to a final (or pending) status."""

    reference: str
    status: str
    at: dt.datetime
    provider: str
    provider_response: str | None = None
    feedback_type: str | None = None
    feedback_subtype: str | None = None
    complaint: bool = False


class ProviderError(Exception):
    pass


class ProviderThrottled(ProviderError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderRetryable(ProviderError):
    pass


class ProviderRejected(ProviderError):
    pass


class Provider(Protocol):
    name: str
    channel: Channel
    max_batch: int

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]: ...

    async def aclose(self) -> None: ...

"""What every provider shares: the messages it sends, the results and receipts it returns.

The messages (``EmailMessage``, ``SmsMessage``, ``Outbound``, ``Attachment``) are pure data
built with the notification they carry; they have one home, ``engine.domain.notification``,
and everything imports them from there.

One failure channel: results. ``send_batch`` returns one ``SendResult`` per message, in
order, and nothing but cancellation escapes it; a failure of the whole call (a throttle,
a 5xx, a timeout) is a result per message too (``failed_batch``). Outcomes:

    accepted    handed off; ``reference`` keys the receipts
    throttled   slow down and retry (429, SES Throttling, SNS Throttled)
    retryable   retry later (5xx, timeouts, connection errors)
    rejected    never retry this message (bad address, content rejected)

Why results and not an exception tree: SES answers a bulk call entry by entry
(``BulkEmailEntryResults``: one entry throttled, the next rejected) and SNS publishes each
SMS on its own, so per-message outcomes are needed anyway; a whole-call failure is only the
case where every entry has the same one. Both AWS providers already caught their client
errors and returned results, so the former exception tree (ProviderThrottled /
ProviderRetryable / ProviderRejected) was a second path into the ProviderActor that no
provider took (only a test fake raised it). Now the actor classifies outcomes in one place
(``ProviderActor._settle``: status, retry, breaker failure); an exception from
``send_batch`` is a provider bug, which the actor turns into retryable results so the
batch is not lost.

A provider bounds its own calls (the AWS providers: a deadline per call,
``engine.providers.aws``), so ``send_batch`` returns within its deadline of a call leaving
the provider's queue; a call past it is a ``retryable`` result like any timeout.

Receipts (delivery, bounce, complaint) arrive later and are keyed by the provider's
reference.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from engine.domain.notification import Outbound

__all__ = [
    "Channel",
    "Outcome",
    "Provider",
    "Receipt",
    "SendResult",
    "failed",
    "failed_batch",
]

Channel = Literal["email", "sms"]
Outcome = Literal["accepted", "throttled", "retryable", "rejected"]


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


def failed(
    message: Outbound, outcome: Outcome, detail: str | None = None, retry_after: float | None = None
) -> SendResult:
    """A message that was not accepted."""
    return SendResult(
        notification_id=message.notification_id,
        outcome=outcome,
        detail=detail,
        retry_after=retry_after,
    )


def failed_batch(
    messages: Sequence[Outbound],
    outcome: Outcome,
    detail: str,
    retry_after: float | None = None,
) -> list[SendResult]:
    """A call that failed as a whole: the same outcome for every message, in order."""
    return [failed(m, outcome, detail, retry_after) for m in messages]


class Provider(Protocol):
    name: str
    channel: Channel
    max_batch: int

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]: ...

    async def aclose(self) -> None: ...

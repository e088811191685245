"""Amazon SNS SMS provider: a pure request builder and response parser, one thin async shell.

Rules:
- One ``Publish`` per SMS (SNS has no batch SMS call); a batch is sent concurrently, at most
  ``concurrency`` calls in flight.
- Every SMS is ``Transactional``. A numeric sender (E.164 or short code) is the origination
  number (``AWS.MM.SMS.OriginationNumber``); an alphanumeric one is the sender ID
  (``AWS.SNS.SMS.SenderID``).
- Accepted -> reference = SNS MessageId, status ``sent`` (GC semantics: SMS is ``sent`` on
  hand-off). Failures are mapped by ``aws.describe``. Nothing but cancellation escapes
  ``send_batch``.
- Each Publish has its own deadline (``aws.call``, ``deadline`` seconds,
  ``NOTIFY_PROVIDER_TIMEOUT_SECONDS``); past it that SMS is retryable, and the batch's other
  SMS keep their answers (``aws``: the trade-off of an uncertain outcome).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from engine.config import Settings
from engine.domain import statuses as st
from engine.domain.notification import Outbound, SmsMessage
from engine.providers import aws
from engine.providers.base import Channel, SendResult, failed

NUMERIC_SENDER = re.compile(r"^\+?[0-9]{3,15}$")


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def build_publish_request(message: SmsMessage) -> dict[str, Any]:
    """``Publish`` arguments for one SMS. Pure."""
    attributes = {"AWS.SNS.SMS.SMSType": _string("Transactional")}
    sender = (message.sender or "").strip()
    if sender and NUMERIC_SENDER.match(sender):
        attributes["AWS.MM.SMS.OriginationNumber"] = _string(sender)
    elif sender:
        attributes["AWS.SNS.SMS.SenderID"] = _string(sender)
    return {"PhoneNumber": message.to, "Message": message.body, "MessageAttributes": attributes}


def parse_publish_response(message: SmsMessage, response: dict[str, Any]) -> SendResult:
    reference = response.get("MessageId")
    if not reference:
        return failed(message, "retryable", "SNS returned no MessageId")
    return SendResult(
        notification_id=message.notification_id,
        outcome="accepted",
        reference=str(reference),
        status=st.SENT,
    )


class SnsProvider:
    """Sends SMS through an open aiobotocore ``sns`` client (owned by the caller)."""

    def __init__(
        self,
        client: Any,
        *,
        name: str = "sns-sms",
        max_batch: int = 10,
        concurrency: int = 10,
        deadline: float = 5.0,
    ) -> None:
        self.name = name
        self.channel: Channel = "sms"
        self.max_batch = max_batch
        self.deadline = deadline
        self._client = client
        self._limiter = trio.CapacityLimiter(concurrency)

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(messages)
        async with trio.open_nursery() as nursery:
            for i, message in enumerate(messages):
                if isinstance(message, SmsMessage):
                    nursery.start_soon(self._publish, message, i, results)
                else:
                    results[i] = failed(message, "rejected", "SNS sends SMS only")
        return [r for r in results if r is not None]

    async def _publish(
        self, message: SmsMessage, index: int, results: list[SendResult | None]
    ) -> None:
        async with self._limiter:
            try:
                response = await aws.call(
                    self._client.publish, build_publish_request(message), self.deadline
                )
            except aws.CLIENT_ERRORS as exc:
                outcome, detail, after = aws.describe(exc)
                results[index] = failed(message, outcome, detail, after)
            else:
                results[index] = parse_publish_response(message, response)

    async def aclose(self) -> None:
        # The client belongs to whoever opened it (``open_sns``).
        await trio.lowlevel.checkpoint()


@asynccontextmanager
async def open_sns(
    settings: Settings,
    *,
    name: str = "sns-sms",
    credentials: tuple[str, str] | None = None,
    concurrency: int = 10,
) -> AsyncIterator[SnsProvider]:
    """An SNS provider with its own client, configured from settings; closed on exit."""
    config = aws.provider_config(settings, max_connections=concurrency)
    async with aws.open_client("sns", settings, config=config, credentials=credentials) as client:
        yield SnsProvider(
            client,
            name=name,
            concurrency=concurrency,
            deadline=settings.provider_timeout_seconds,
        )

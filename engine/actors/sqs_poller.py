"""SqsPoller: the durable receipt path. SES/SNS publish to an SNS topic, the topic feeds an
SQS queue, and this actor drains the queue (``NOTIFY_RECEIPTS_SQS_QUEUE_URL``).

Rules:
- ``ReceiveMessage`` long-polls (up to 10 messages, ``WaitTimeSeconds`` 20), so an idle
  queue costs three requests a minute and a busy one is read in batches of ten.
- A body is either an SNS envelope (``{"Type": "Notification", "Message": "<event>"}``) or,
  with raw message delivery on, the event itself: an SES event (``eventType`` or
  ``notificationType``) or an SNS SMS delivery status record (``notification``/``status``).
  No signature check here: only principals allowed by the queue policy can write to it.
- Durability: messages are deleted (``DeleteMessageBatch``) only after their receipts were
  committed by ``ReceiptsActor.submit``. If the store fails, nothing is deleted and SQS
  redelivers after the visibility timeout; receipts are idempotent, so a redelivery after
  a crash between commit and delete is harmless.
- A body we cannot read is logged and deleted: no retry would ever make it readable (a
  dead-letter queue on the SQS side is the place to keep such messages).
- AWS errors on receive back off (1 s doubling to 30 s) instead of spinning. Anything else
  raises and the supervisor restarts the poller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
import trio

from engine.config import Settings
from engine.metrics import RECEIPT_MESSAGES
from engine.providers.aws import CLIENT_ERRORS, client_config, describe, open_client
from engine.providers.base import Receipt
from engine.providers.ses_events import EventError, parse_ses_event
from engine.providers.sns_events import parse_sms_record

log = logging.getLogger("engine.sqs_poller")

Submit = Callable[[Sequence[Receipt]], Awaitable[None]]
Opener = Callable[[], AbstractAsyncContextManager[Any]]
SOURCE = "sqs"


def receipts_from_body(body: str) -> list[Receipt]:
    """The receipts one SQS message body carries. Pure; raises EventError."""
    event = _object(body)
    if event.get("Type") == "Notification":
        message = event.get("Message")
        if not isinstance(message, str):
            raise EventError("SNS envelope without a Message")
        event = _object(message)
    if "eventType" in event or "notificationType" in event:
        return parse_ses_event(event)
    if "notification" in event and "status" in event:
        return parse_sms_record(event)
    raise EventError("neither an SES event nor an SNS SMS delivery status record")


def _object(text: str) -> Mapping[str, Any]:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise EventError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EventError("not a JSON object")
    return value


class SqsPoller:
    def __init__(
        self,
        settings: Settings,
        submit: Submit,
        *,
        opener: Opener | None = None,
        wait_seconds: int = 20,
        max_messages: int = 10,
    ) -> None:
        self.queue_url = settings.receipts_sqs_queue_url
        self._submit = submit
        self._wait = wait_seconds
        self._max = max_messages
        self._opener = opener or (
            lambda: open_client(
                "sqs", settings, config=client_config(read_timeout=wait_seconds + 10)
            )
        )
        self.received = 0
        self.deleted = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._opener() as client:
            task_status.started()
            backoff = 1.0
            while True:
                try:
                    response = await client.receive_message(
                        QueueUrl=self.queue_url,
                        MaxNumberOfMessages=self._max,
                        WaitTimeSeconds=self._wait,
                    )
                except CLIENT_ERRORS as exc:
                    _, detail, _ = describe(exc)
                    log.warning("SQS receive failed", extra={"error": detail, "backoff": backoff})
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
                messages = response.get("Messages") or []
                if messages:
                    await self._process(client, messages)
                else:
                    await trio.sleep(0.1)  # an endpoint that ignores WaitTimeSeconds must not spin

    async def _process(self, client: Any, messages: list[Mapping[str, Any]]) -> None:
        self.received += len(messages)
        receipts: list[Receipt] = []
        for message in messages:
            try:
                receipts.extend(receipts_from_body(message.get("Body") or ""))
                RECEIPT_MESSAGES.labels(SOURCE, "accepted").inc()
            except EventError as exc:
                RECEIPT_MESSAGES.labels(SOURCE, "invalid").inc()
                log.warning(
                    "unreadable SQS receipt message; deleting it",
                    extra={"message_id": message.get("MessageId"), "reason": str(exc)},
                )
        # Raises if the store fails: then nothing is deleted and SQS redelivers.
        await self._submit(receipts)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        try:
            result = await client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except CLIENT_ERRORS as exc:
            # Committed but not deleted: SQS redelivers, and the receipts apply idempotently.
            log.warning("SQS delete failed", extra={"error": describe(exc)[1]})
            return
        failed = result.get("Failed") or []
        self.deleted += len(entries) - len(failed)
        if failed:
            log.warning("SQS delete partly failed", extra={"failed": len(failed)})

"""Receipts delivered the way SNS delivers to an HTTP(S) subscriber, for the simulators.

Rules:
- One SNS ``Notification`` message per receipt: JSON body with ``Content-Type: text/plain``,
  the ``x-amz-sns-*`` headers and a dummy signature (the engine must run with
  ``NOTIFY_RECEIPTS_VERIFY_SIGNATURE=false``). ``Message`` holds an SES event (``eventType``
  Delivery / Bounce / Complaint) or an SNS SMS delivery status log.
- Posted ``delay`` seconds after ``submit``: a scheduler releases receipts in due order,
  those due within ``GATHER`` of each other together, and a few connection workers send each
  batch as pipelined requests on a keep-alive connection (one write, cheap enough for
  >10k receipts/s). SNS itself opens many connections to a subscriber; the engine answers
  a connection's requests in order, each after its receipts commit, so a connection carries
  at most one commit's worth per commit latency: with 32 connections and commits slowed
  to ~75 ms by a busy engine, receipts capped at ~420/s and fell behind the API in the
  1,000,000-notification run. The default is 256.
- Bounded: the queue has a fixed size (``submit`` waits when it is full, slowing the API
  that produces receipts); a receipt answered 5xx/429 or lost with its connection is retried
  with backoff at most ``attempts`` times, then counted as failed; a 4xx is counted as
  rejected and dropped (SNS does the same). A refused connection backs off the same way
  (it slept a flat 0.2 s before: 8 attempts gave up after 1.6 s, less than an engine
  restart takes, and ``bench/faults.py`` counted the dropped receipts as lost).
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools
import msgspec
import trio

SIMULATOR = "@simulator.amazonses.com"
GATHER = 0.005  # seconds: receipts due this close together are posted in one batch
_encode = msgspec.json.Encoder().encode

_clock: list[Any] = [0, ""]


def now_iso() -> str:
    """The current time as AWS writes it, formatted at most once per millisecond."""
    ms = time.time_ns() // 1_000_000
    if ms != _clock[0]:
        stamp = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        _clock[:] = [ms, stamp[:-3] + "Z"]
    return str(_clock[1])


_ID_PREFIX = str(uuid.uuid4())[:24]
_ids = itertools.count(1)


def new_id() -> str:
    """A unique uuid-shaped id: a random per-process prefix and a counter (uuid4 is slow)."""
    return f"{_ID_PREFIX}{next(_ids):012x}"


def ses_events(message_id: str, source: str, to: list[str]) -> list[dict[str, Any]]:
    """The SES events a send produces (Delivery / Bounce / Complaint), stamped now."""
    at = now_iso()
    mail = {"timestamp": at, "source": source, "messageId": message_id, "destination": to,
            "sendingAccountId": "000000000000", "headersTruncated": False}  # fmt: skip
    first = to[0].lower() if to else ""
    if first in ("bounce" + SIMULATOR, "suppressionlist" + SIMULATOR, "perm-fail@simulator.notify"):
        sub = "OnAccountSuppressionList" if first.startswith("suppression") else "General"
        return [{"eventType": "Bounce", "mail": mail, "bounce": {
            "bounceType": "Permanent", "bounceSubType": sub, "timestamp": at,
            "feedbackId": f"sim-{uuid.uuid4()}",
            "bouncedRecipients": [{"emailAddress": a} for a in to]}}]  # fmt: skip
    if first == "temp-fail@simulator.notify":
        return [{"eventType": "Bounce", "mail": mail, "bounce": {
            "bounceType": "Transient", "bounceSubType": "General", "timestamp": at,
            "feedbackId": f"sim-{uuid.uuid4()}",
            "bouncedRecipients": [{"emailAddress": a} for a in to]}}]  # fmt: skip
    events: list[dict[str, Any]] = [{"eventType": "Delivery", "mail": mail, "delivery": {
        "timestamp": at, "processingTimeMillis": 42, "recipients": to,
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": "a8-1.smtp-out.amazonses.com"}}]  # fmt: skip
    if first == "complaint" + SIMULATOR:
        events.append({"eventType": "Complaint", "mail": mail, "complaint": {
            "complainedRecipients": [{"emailAddress": a} for a in to], "timestamp": at,
            "feedbackId": f"sim-{uuid.uuid4()}", "complaintFeedbackType": "abuse"}})  # fmt: skip
    return events


def sms_delivery_log(message_id: str, phone: str) -> dict[str, Any]:
    """The SNS SMS delivery status log for a publish to ``phone``, stamped now."""
    status, response = "SUCCESS", "Message has been accepted by phone carrier"
    if phone.endswith("5149301632"):
        status, response = "FAILURE", "Phone is currently unreachable/unavailable"
    elif phone.endswith("5149301633"):
        status, response = "FAILURE", "Phone carrier is currently unreachable/unavailable"
    return {
        "notification": {"messageId": message_id, "timestamp": now_iso()},
        "delivery": {
            "destination": phone,
            "providerResponse": response,
            "dwellTimeMs": 350,
            "smsType": "Transactional",
            "priceInUSD": 0.00645,
            "numberOfMessageParts": 1,
            "mcc": 302,
            "mnc": 720,
            "phoneCarrier": "Simulated",
        },
        "status": status,
    }


def sns_envelope(topic: str, message: dict[str, Any]) -> tuple[str, bytes]:
    """(SNS message id, body) of an SNS HTTP ``Notification`` carrying ``message``."""
    mid = new_id()
    body = _encode({
        "Type": "Notification", "MessageId": mid, "TopicArn": topic,
        "Message": _encode(message).decode(), "Timestamp": now_iso(), "SignatureVersion": "1",
        "Signature": "U0lNVUxBVEVE", "SigningCertURL":
            "https://sns.ca-central-1.amazonaws.com/SimpleNotificationService-simulated.pem",
        "UnsubscribeURL": f"https://sns.ca-central-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:sim",
    })  # fmt: skip
    return mid, body


@dataclass
class _Receipt:
    due: float
    head: bytes
    body: bytes
    attempts: int = 0


class _ResponseCounter:
    """httptools callbacks: the status code of every complete response, in order."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.statuses: list[int] = []
        self.keep_alive = True

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self.statuses.append(self.parser.get_status_code())


class ReceiptPoster:
    """Posts SNS notifications to one URL ``delay`` seconds after ``submit``."""

    def __init__(
        self, url: str, topic: str, *, delay: float, connections: int = 256,
        pipeline: int = 32, queue: int = 200_000, attempts: int = 8,
    ) -> None:  # fmt: skip
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"receipts URL must be http://host:port/path, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = (parts.path or "/").encode()
        self.topic = topic
        self.delay = delay
        self.connections = connections
        self.pipeline = pipeline
        self.attempts = attempts
        self.stats: Counter[str] = Counter()
        self._due_send, self._due_recv = trio.open_memory_channel[_Receipt](queue)
        self._ready_send, self._ready_recv = trio.open_memory_channel[list[_Receipt]](
            connections * 2
        )

    async def submit(self, message: dict[str, Any]) -> None:
        mid, body = sns_envelope(self.topic, message)
        head = b"\r\n".join([
            b"POST " + self.path + b" HTTP/1.1", b"host: %s:%d" % (self.host.encode(), self.port),
            b"content-type: text/plain; charset=UTF-8", b"x-amz-sns-message-type: Notification",
            b"x-amz-sns-message-id: " + mid.encode(),
            b"x-amz-sns-topic-arn: " + self.topic.encode(),
            b"user-agent: Amazon Simple Notification Service Agent",
            b"content-length: %d" % len(body), b"", b"",
        ])  # fmt: skip
        self.stats["queued"] += 1
        receipt = _Receipt(trio.current_time() + self.delay, head, body)
        try:  # no checkpoint per receipt: a 50-entry call must not yield 50 times
            self._due_send.send_nowait(receipt)
        except trio.WouldBlock:
            await self._due_send.send(receipt)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._schedule)
            for _ in range(self.connections):
                nursery.start_soon(self._worker)
            task_status.started()

    async def _schedule(self) -> None:
        # Due times are monotonic (constant delay), so FIFO order is due order. Receipts due
        # within GATHER of each other leave together: one write, one pipelined batch.
        held: _Receipt | None = None
        while True:
            if held is None:
                try:
                    held = await self._due_recv.receive()
                except trio.EndOfChannel:
                    return
            await trio.sleep_until(held.due)
            batch, held = [held], None
            horizon = trio.current_time() + GATHER
            while len(batch) < self.pipeline:
                try:
                    receipt = self._due_recv.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                if receipt.due > horizon:
                    held = receipt
                    break
                batch.append(receipt)
            await self._ready_send.send(batch)

    async def _worker(self) -> None:
        stream: trio.SocketStream | None = None
        try:
            async for batch in self._ready_recv:
                stream = await self._deliver(stream, batch)
        finally:
            if stream is not None:
                with trio.CancelScope(shield=True):
                    await stream.aclose()

    async def _deliver(
        self, stream: trio.SocketStream | None, batch: list[_Receipt]
    ) -> trio.SocketStream | None:
        pending = batch
        while pending:
            if stream is None:
                try:
                    with trio.fail_after(5):
                        stream = await trio.open_tcp_stream(self.host, self.port)
                except (OSError, trio.TooSlowError):
                    self.stats["connect_errors"] += 1
                    pending = self._retry_later(pending)
                    if pending:
                        await trio.sleep(_backoff(pending[0].attempts))
                    continue
            counter = _ResponseCounter()
            try:
                with trio.fail_after(30):
                    await stream.send_all(b"".join(r.head + r.body for r in pending))
                    while len(counter.statuses) < len(pending) and counter.keep_alive:
                        data = await stream.receive_some(65_536)
                        if not data:
                            break
                        counter.parser.feed_data(data)
            except (
                OSError,
                trio.BrokenResourceError,
                trio.TooSlowError,
                httptools.HttpParserError,
            ):
                self.stats["connection_errors"] += 1
                counter.keep_alive = False
            answered, rest = pending[: len(counter.statuses)], pending[len(counter.statuses) :]
            retry: list[_Receipt] = []
            for receipt, status in zip(answered, counter.statuses, strict=True):
                if 200 <= status < 300:
                    self.stats["delivered"] += 1
                elif status >= 500 or status == 429:
                    retry.append(receipt)
                else:
                    self.stats[f"rejected_{status}"] += 1
                    self.stats["rejected"] += 1
            if not counter.keep_alive or rest:
                with trio.CancelScope(shield=True):
                    await stream.aclose()
                stream = None
            pending = self._retry_later(retry + rest)
            if pending:
                await trio.sleep(_backoff(pending[0].attempts))
        return stream

    def _retry_later(self, receipts: list[_Receipt]) -> list[_Receipt]:
        kept = []
        for r in receipts:
            r.attempts += 1
            if r.attempts >= self.attempts:
                self.stats["failed"] += 1
            else:
                self.stats["retried"] += 1
                kept.append(r)
        return kept


def _backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts``: 0.1, 0.2, 0.4 ... 5 s (about 18 s over 8
    attempts)."""
    return min(0.1 * 2 ** (attempts - 1), 5.0)

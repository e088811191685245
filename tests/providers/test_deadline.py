"""A provider that hangs (takes the request, never answers) or fails (5xx): the call's
deadline (``NOTIFY_PROVIDER_TIMEOUT_SECONDS``) turns a hang into retryable results within
about that deadline, the ProviderActor's breaker counts them and the batch fails over.

The real aiobotocore clients (``open_ses``, ``open_sns``: AwsHttpSession) against a tiny
loopback server standing in for the SES and SNS endpoints, on the real clock; and on
trio's mock clock where only the rule is under test (a fake client through the provider's
constructor).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from msgspec.structs import replace

from engine.actors.provider import ProviderActor
from engine.config import ConfigError, Settings, load_settings
from engine.domain import statuses as st
from engine.domain.breaker import CircuitBreaker, FailureShare
from engine.domain.notification import Outbound, SmsMessage
from engine.providers import aws
from engine.providers.ses import SesProvider, open_ses
from engine.providers.sns import open_sns
from tests.actors.fakes import FakeProvider, FakeStore, email, no_changes, wait_until
from tests.providers.conftest import CREDENTIALS, REGION

PUBLISH_OK = (
    b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    b"<MessageId>sns-1</MessageId></PublishResult></PublishResponse>"
)


# -- a loopback SES and SNS endpoint ------------------------------------------------------
class Endpoint:
    """Answers SendBulkEmail with SUCCESS per entry, SendEmail and Publish with a MessageId.
    A request whose body holds one of ``hang_on`` is read and never answered; with
    ``status`` set every request gets that HTTP status and an AWS error instead. With
    ``hold`` set, answers wait for that event (``holding``: one does; ``answered``: one
    was written)."""

    def __init__(self) -> None:
        self.hang_on: tuple[bytes, ...] = ()
        self.hold: trio.Event | None = None
        self.holding = trio.Event()
        self.answered = trio.Event()
        self.status: int | None = None
        self.requests = 0
        self.hung = 0
        self.url = ""

    async def handle(self, stream: trio.abc.Stream) -> None:
        buffer = bytearray()
        try:
            while (request := await _read(stream, buffer)) is not None:
                path, body = request
                self.requests += 1
                if any(mark in body for mark in self.hang_on):
                    self.hung += 1
                    await trio.sleep_forever()
                if self.hold is not None:
                    self.holding.set()
                    await self.hold.wait()
                await stream.send_all(self._answer(path, body))
                self.answered.set()
        except trio.BrokenResourceError:
            pass
        finally:
            await trio.aclose_forcefully(stream)

    def _answer(self, path: str, body: bytes) -> bytes:
        ses = path.startswith("/v2/email/")
        if self.status is not None:
            if ses:
                head = b"Content-Type: application/json\r\nx-amzn-ErrorType: InternalFailure\r\n"
                return _response(self.status, b'{"message": "injected"}', head)
            error = (
                b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code>"
                b"<Message>injected</Message></Error></ErrorResponse>"
            )
            return _response(self.status, error, b"Content-Type: text/xml\r\n")
        if path == "/v2/email/outbound-bulk-emails":
            entries = json.loads(body)["BulkEmailEntries"]
            results = [{"Status": "SUCCESS", "MessageId": f"ses-{i}"} for i in range(len(entries))]
            reply = json.dumps({"BulkEmailEntryResults": results}).encode()
            return _response(200, reply, b"Content-Type: application/json\r\n")
        if ses:
            return _response(
                200, b'{"MessageId": "ses-raw"}', b"Content-Type: application/json\r\n"
            )
        return _response(200, PUBLISH_OK, b"Content-Type: text/xml\r\n")


def _response(status: int, body: bytes, head: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\n%bContent-Length: %d\r\n\r\n%b" % (status, head, len(body), body)


async def _read(stream: trio.abc.Stream, buffer: bytearray) -> tuple[str, bytes] | None:
    """One request (AwsHttpSession always sends a Content-Length): its path and body."""
    while b"\r\n\r\n" not in buffer:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer.extend(data)
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    del buffer[: len(head) + 4]
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    length = int(headers.get("content-length", "0"))
    while len(buffer) < length:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer.extend(data)
    body = bytes(buffer[:length])
    del buffer[:length]
    return line.split(" ")[1], body


@asynccontextmanager
async def endpoint() -> AsyncIterator[Endpoint]:
    server = Endpoint()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0,
                                                host="127.0.0.1"))  # fmt: skip
        server.url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        yield server
        nursery.cancel_scope.cancel()


def settings(url: str, deadline: float = 1.0) -> Settings:
    return Settings(aws_endpoint_url=url, aws_region=REGION, provider_timeout_seconds=deadline)


def fallback_actor(store: FakeStore) -> tuple[FakeProvider, ProviderActor]:
    """The next provider of the channel: a fake that accepts everything."""
    fallback = FakeProvider("fallback")
    # FakeProvider.channel is a plain str, the Provider protocol's a Literal.
    actor = ProviderActor(fallback, store, no_changes, rng=random.Random(7))  # type: ignore[arg-type]
    return fallback, actor


def sms(n: int) -> SmsMessage:
    sent = email(n)
    return SmsMessage(notification_id=sent.notification_id, service_id=sent.service_id,
                      to=f"+1613555{n:04d}", body=f"code {n}", sender=None)  # fmt: skip


def test_the_deadline_is_five_seconds_unless_configured() -> None:
    assert Settings().provider_timeout_seconds == 5.0
    environ = {"NOTIFY_PROVIDER_TIMEOUT_SECONDS": "1.5"}
    assert load_settings(environ).provider_timeout_seconds == 1.5
    with pytest.raises(ConfigError, match="NOTIFY_PROVIDER_TIMEOUT_SECONDS"):
        load_settings({"NOTIFY_PROVIDER_TIMEOUT_SECONDS": "0"})


# -- the providers: a hung call is a retryable result after the deadline ----------------
async def test_a_hung_ses_call_is_retryable_after_the_deadline_not_the_read_timeout() -> None:
    async with endpoint() as server:
        server.hang_on = (b"BulkEmailEntries",)
        async with open_ses(settings(server.url), credentials=CREDENTIALS) as ses:
            with trio.fail_after(4):  # before the deadline: the 15 s read timeout
                start = trio.current_time()
                results = await ses.send_batch([email(i) for i in range(3)])
                took = trio.current_time() - start
                # The hung call's connection was closed, not reused: the next call answers.
                server.hang_on = ()
                [again] = await ses.send_batch([email(3)])
    assert 0.9 <= took < 2.5
    assert [r.outcome for r in results] == ["retryable"] * 3
    assert all((r.detail or "").startswith("NoAnswer: no answer within 1 s") for r in results)
    assert server.hung == 1
    assert again.outcome == "accepted"


async def test_a_hung_publish_fails_alone_and_the_batch_keeps_the_others() -> None:
    async with endpoint() as server:
        messages = [sms(i) for i in range(4)]
        server.hang_on = (messages[2].to.removeprefix("+").encode(),)
        async with open_sns(settings(server.url), credentials=CREDENTIALS) as sns:
            with trio.fail_after(4):
                start = trio.current_time()
                results = await sns.send_batch(messages)
                took = trio.current_time() - start
    assert 0.9 <= took < 2.5
    assert [r.outcome for r in results] == ["accepted", "accepted", "retryable", "accepted"]
    assert results[0].status == st.SENT


async def test_a_hung_bulk_call_does_not_resend_or_hold_up_the_others() -> None:
    """One of two SES calls of a batch hangs: the other's entries stay accepted (a
    batch-wide deadline would resend them); a second batch meanwhile goes out on another
    connection at once."""
    async with endpoint() as server:
        stuck = [email(i) for i in range(3)]
        other = [replace(email(10 + i), reply_to="help@example.org") for i in range(2)]
        server.hang_on = (b"user0@example.com",)
        async with open_ses(settings(server.url), credentials=CREDENTIALS) as ses:
            done: dict[str, float] = {}
            out: dict[str, list[Any]] = {}

            async def send(label: str, batch: Sequence[Outbound]) -> None:
                out[label] = await ses.send_batch(batch)
                done[label] = trio.current_time() - start

            with trio.fail_after(4):
                start = trio.current_time()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send, "mixed", [*stuck, *other])
                    await trio.sleep(0.05)
                    nursery.start_soon(send, "next", [email(20 + i) for i in range(2)])
    assert [r.outcome for r in out["mixed"]] == ["retryable"] * 3 + ["accepted"] * 2
    assert [r.outcome for r in out["next"]] == ["accepted"] * 2
    assert done["next"] < 0.8  # before the hung call's deadline: it did not wait for it
    assert 0.9 <= done["mixed"] < 2.5
    assert (server.hung, server.requests) == (1, 3)


# -- a freeze is not a hang: the deadline counts the time the process ran ------------------
# A process that sends one email through the real SES provider (1 s deadline) and prints
# the result's outcome and reference.
FROZEN_CLIENT = """
import sys, uuid, trio
from engine.config import Settings
from engine.domain.notification import EmailMessage
from engine.providers.ses import open_ses

async def main(url):
    settings = Settings(aws_endpoint_url=url, aws_region="us-east-1",
                        provider_timeout_seconds=1.0)
    email = EmailMessage(notification_id=uuid.uuid4(), service_id=uuid.uuid4(),
                         to="someone@example.com", from_address="S <s@example.com>",
                         reply_to=None, subject="s", html="<p>h</p>", text="h")
    async with open_ses(settings, credentials=("k", "s")) as ses:
        [result] = await ses.send_batch([email])
    print(result.outcome, result.reference, flush=True)

trio.run(main, sys.argv[1])
"""


async def test_a_call_frozen_past_its_deadline_reads_the_answer_that_arrived() -> None:
    """Issue 19's residual duplicate, with a real SIGSTOP: a process frozen while its call
    was on the wire comes back past the call's deadline with the answer on its socket.
    Before, the deadline (wall time) cancelled the call (the first wait after SIGCONT
    returns no events: the kernel interrupts epoll_wait on a stop, and Python's retry finds
    its timeout spent), so an accepted message was retried, and, once its worker had been
    declared dead, resent by recovery. Now the answer is read."""
    async with endpoint() as server:
        server.hold = trio.Event()
        child = await trio.lowlevel.open_process(
            [sys.executable, "-c", FROZEN_CLIENT, server.url], stdout=subprocess.PIPE
        )
        try:
            assert child.stdout is not None
            with trio.fail_after(30):
                await server.holding.wait()  # the call is on the wire
                os.kill(child.pid, signal.SIGSTOP)
                server.hold.set()
                await server.answered.wait()  # the answer waits on the frozen client's socket
                await trio.sleep(3.0)  # the freeze: three times the call's deadline
                os.kill(child.pid, signal.SIGCONT)
                output = b""
                while chunk := await child.stdout.receive_some():
                    output += chunk
                await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                os.kill(child.pid, signal.SIGCONT)
                with trio.CancelScope(shield=True):
                    await child.wait()
    assert output.decode().split() == ["accepted", "ses-0"]


async def test_only_the_connect_phase_has_a_wall_clock_bound_of_its_own() -> None:
    """A trio deadline counts a freeze. On the write phase it turned a request written
    just after a thaw into a "write timeout" (the request went out, the call failed, its
    frozen-and-fenced sender left the row to recovery: a duplicate in the ``pause`` fault
    runs); so the write and read phases are bounded by the call's running-time deadline
    only. A connect that times out sent nothing: that bound stays."""
    async with open_ses(settings("http://127.0.0.1:9"), credentials=CREDENTIALS) as ses:
        timeouts = ses._client._endpoint.http_session._timeouts  # the session aiobotocore built
    assert timeouts.connect == 1.0  # min(CONNECT_SECONDS, the 1 s deadline)
    assert (timeouts.write, timeouts.read) == (float("inf"), float("inf"))


async def test_the_deadline_counts_running_time_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """On the mock clock: a jump of the clock (a freeze) while the answer arrives is not
    counted; a hang is cancelled between the deadline and one tick after it."""
    answered = trio.Event()

    async def answer_after_a_freeze() -> None:
        await trio.sleep(0.6)
        autojump_clock.jump(8.0)  # frozen 8 s (the loop runs nothing meanwhile) ...
        answered.set()  # ... while the answer arrived

    async def on_the_wire() -> str:
        await answered.wait()
        await trio.lowlevel.checkpoint()  # reading the answer: more checkpoints
        return "accepted"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_after_a_freeze)
        assert await aws.call(on_the_wire, {}, 1.0) == "accepted"

    from engine.providers.deadline import STEP  # here: the part above runs on main too

    start = trio.current_time()
    with pytest.raises(aws.NoAnswer):
        await aws.call(trio.sleep_forever, {}, 1.0)
    assert 1.0 <= trio.current_time() - start <= 1.0 + STEP


async def test_a_5xx_answer_is_retryable_at_once() -> None:
    async with endpoint() as server:
        server.status = 503
        async with open_ses(settings(server.url), credentials=CREDENTIALS) as ses:
            with trio.fail_after(4):
                results = await ses.send_batch([email(0)])
    assert results[0].outcome == "retryable"
    assert (results[0].detail or "").startswith("InternalFailure")


# -- the actor: the breaker hears of a hang within the deadline and the batch fails over ---
@pytest.mark.parametrize("fault", ["hang", "5xx"])
async def test_a_hung_or_failing_ses_fails_over_within_the_deadline(fault: str) -> None:
    store = FakeStore()
    fallback, secondary = fallback_actor(store)
    async with endpoint() as server:
        if fault == "hang":
            server.hang_on = (b"BulkEmailEntries",)
        else:
            server.status = 500
        async with (
            open_ses(settings(server.url), credentials=CREDENTIALS) as ses,
            trio.open_nursery() as nursery,
        ):
            breaker = CircuitBreaker(FailureShare(0.5, min_volume=20))
            primary = ProviderActor(ses, store, no_changes, breaker=breaker, fallback=secondary,
                                    rng=random.Random(7))  # fmt: skip
            await nursery.start(primary.run)
            await nursery.start(secondary.run)
            messages = [email(i) for i in range(20)]
            start = trio.current_time()
            with trio.fail_after(4):  # before the deadline: 15 s to the first failure
                for m in messages:
                    await primary.submit(m)
                await wait_until(lambda: breaker.state == "open")
                opened = trio.current_time() - start
                await wait_until(lambda: len(store.final()) == 20)
                moved = trio.current_time() - start
            nursery.cancel_scope.cancel()
    assert opened < (2.5 if fault == "hang" else 1.0)
    assert moved < opened + 1.0  # the first retry's backoff: 0.25 to 0.5 s
    assert {m.notification_id for m in fallback.sent()} == {m.notification_id for m in messages}
    assert set(store.final().values()) == {st.SENDING}
    assert {u.provider for u in store.updates if u.provider} == {"fallback"}


# -- the rule alone, on the mock clock ---------------------------------------------------
class HungClient:
    """An sesv2 client whose calls never answer unless the request names ``answer_to``."""

    def __init__(self, answer_to: str = "") -> None:
        self.answer_to = answer_to
        self.started: list[float] = []

    async def send_bulk_email(self, **request: Any) -> dict[str, Any]:
        self.started.append(trio.current_time())
        entries = request["BulkEmailEntries"]
        if self.answer_to and self.answer_to in json.dumps(entries):
            return {
                "BulkEmailEntryResults": [{"Status": "SUCCESS", "MessageId": "m"}] * len(entries)
            }
        await trio.sleep_forever()
        raise AssertionError("unreachable")


async def test_the_deadline_starts_when_the_call_leaves_the_queue(autojump_clock: object) -> None:
    """Two calls, one connection's worth of concurrency: each gets its own 5 s; the second's
    wait for the first is not spent from its deadline."""
    client = HungClient()
    ses = SesProvider(client, concurrency=1, deadline=5.0)
    first = [email(0)]
    second = [replace(email(1), reply_to="help@example.org")]
    start = trio.current_time()
    results = await ses.send_batch([*first, *second])
    assert trio.current_time() - start == pytest.approx(10.0)
    assert [t - start for t in client.started] == pytest.approx([0.0, 5.0])
    assert [r.outcome for r in results] == ["retryable", "retryable"]


async def test_a_hang_opens_the_breaker_after_one_deadline(autojump_clock: object) -> None:
    store = FakeStore()
    fallback, secondary = fallback_actor(store)
    breaker = CircuitBreaker(FailureShare(0.5, min_volume=20))
    ses = SesProvider(HungClient(), deadline=5.0)
    primary = ProviderActor(ses, store, no_changes, breaker=breaker, fallback=secondary,
                            rng=random.Random(7))  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(primary.run)
        await nursery.start(secondary.run)
        start = trio.current_time()
        for i in range(20):
            await primary.submit(email(i))
        with trio.fail_after(60):
            await wait_until(lambda: breaker.state == "open")
            opened = trio.current_time() - start
            await wait_until(lambda: len(store.final()) == 20)
            moved = trio.current_time() - start
        nursery.cancel_scope.cancel()
    assert opened == pytest.approx(5.0, abs=0.1)
    assert moved <= opened + 0.6
    assert len(fallback.sent()) == 20

"""ProviderActor on trio's mock clock: batching, status writes, concurrency, retries,
rejections, the breaker and failover (pacing: tests/actors/test_pacing.py). Providers and
the store are fakes passed in as objects."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
import trio

from engine.actors.provider import _PROBE_POLL, ProviderActor, backoff_delay, parse_send_rates
from engine.domain import statuses as st
from engine.domain.breaker import CircuitBreaker, FailureShare
from engine.domain.notification import Outbound
from engine.providers.base import Outcome, SendResult
from tests.actors.fakes import FakeProvider, FakeStore, email, no_changes, sample, wait_until


def actor(provider: FakeProvider, store: FakeStore, **kw: object) -> ProviderActor:
    kw.setdefault("breaker", CircuitBreaker(FailureShare(min_volume=10**9)))
    return ProviderActor(provider, store, no_changes, rng=random.Random(7), **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def running(*actors: ProviderActor) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        for a in actors:
            await nursery.start(a.run)
        yield
        nursery.cancel_scope.cancel()


async def feed(a: ProviderActor, messages: Sequence[Outbound]) -> None:
    for m in messages:
        await a.send_channel.send(m)


async def test_batches_and_writes_sending_before_the_reference(autojump_clock: object) -> None:
    provider, store = FakeProvider(max_batch=50), FakeStore()
    a = actor(provider, store)
    messages = [email(i) for i in range(120)]
    await feed(a, messages)  # queued before the actor runs: full batches
    async with running(a):
        with trio.fail_after(5):
            await wait_until(lambda: len(store.final()) == 120)
    assert [len(batch) for _, batch in provider.calls] == [50, 50, 20]
    for m in messages:
        mine = [u for u in store.updates if u.id == m.notification_id]
        assert [u.status for u in mine] == [st.SENDING, st.SENDING]
        assert mine[0].provider_reference is None
        assert mine[1].provider_reference == f"ref-{m.notification_id}"
        assert mine[1].provider == "fake"


async def test_every_status_write_names_its_messages_service(autojump_clock: object) -> None:
    # The distribution column (README, "Distribution plan"): the mark and the outcome of
    # each message name its service, whichever services share the batch.
    accepting, store = FakeProvider(max_batch=10), FakeStore()
    rejecting, rejected = FakeProvider(script=lambda m, now: "rejected"), FakeStore()
    a, b = actor(accepting, store), actor(rejecting, rejected)
    messages = [email(i, service=i % 3) for i in range(9)]
    await feed(a, messages)
    await feed(b, messages[:2])
    async with running(a, b):
        with trio.fail_after(5):
            await wait_until(lambda: len(store.final()) == 9 and len(rejected.final()) == 2)
    services = {m.notification_id: m.service_id for m in messages}
    assert len(set(services.values())) == 3
    for written in (store.updates, rejected.updates):
        assert written
        assert all(u.service_id == services[u.id] for u in written)
    assert {u.status for u in rejected.updates} == {st.SENDING, st.PERMANENT_FAILURE}


async def test_at_most_concurrency_calls_in_flight(autojump_clock: object) -> None:
    provider, store = FakeProvider(max_batch=10, latency=1.0), FakeStore()
    a = actor(provider, store, concurrency=3)
    await feed(a, [email(i) for i in range(100)])
    start = trio.current_time()
    async with running(a):
        with trio.fail_after(30):
            await wait_until(lambda: len(store.final()) == 100)
    assert provider.peak_in_flight == 3
    assert 4 - 0.01 <= trio.current_time() - start <= 4.5  # 10 batches, 3 at a time: 4 rounds


async def test_retryable_errors_back_off_then_technical_failure(autojump_clock: object) -> None:
    provider = FakeProvider(fails=lambda now: ("retryable", "503 from provider"))
    store = FakeStore()
    a = actor(provider, store, max_attempts=4, base_backoff=1.0)
    m = email()
    await feed(a, [m])
    async with running(a):
        with trio.fail_after(60):
            await wait_until(lambda: m.notification_id in store.final())
    times = [t for t, _ in provider.calls]
    assert len(times) == 4  # the budget: 4 attempts in all
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for k, gap in enumerate(gaps, start=1):
        nominal = 1.0 * 2 ** (k - 1)
        assert nominal / 2 <= gap <= nominal + 0.01  # exponential, with jitter below nominal
    final = [u for u in store.updates if u.id == m.notification_id]
    # Each attempt marks the row first (a retry's mark is fenced too), then one outcome.
    assert [u.status for u in final] == [st.SENDING] * 4 + [st.TECHNICAL_FAILURE]
    assert final[-1].provider_response == "503 from provider"


async def test_throttled_messages_wait_for_retry_after_then_succeed(autojump_clock: object) -> None:
    seen: set[object] = set()

    def once_throttled(m: Outbound, now: float) -> str:
        if m.notification_id in seen:
            return "accepted"
        seen.add(m.notification_id)
        return "throttled"

    provider = FakeProvider(script=once_throttled, retry_after=5.0)  # type: ignore[arg-type]
    store = FakeStore()
    a = actor(provider, store, base_backoff=0.1)
    await feed(a, [email(i) for i in range(10)])
    async with running(a):
        with trio.fail_after(30):
            await wait_until(lambda: len(store.final()) == 10)
    (t1, first), (t2, second) = provider.calls
    assert len(first) == len(second) == 10
    assert t2 - t1 >= 5.0  # retry_after beats the shorter backoff
    assert set(store.final().values()) == {st.SENDING}
    assert sample("notify_provider_retries_total", provider="fake", reason="throttled") >= 10


async def test_throttle_for_whole_batch_is_retried(autojump_clock: object) -> None:
    calls = 0

    def first_call_throttled(now: float) -> tuple[Outcome, str] | None:
        nonlocal calls
        calls += 1
        return ("throttled", "Maximum sending rate exceeded") if calls == 1 else None

    provider, store = FakeProvider(fails=first_call_throttled), FakeStore()
    a = actor(provider, store)
    await feed(a, [email(i) for i in range(3)])
    async with running(a):
        with trio.fail_after(30):
            await wait_until(lambda: len(store.final()) == 3)
    assert len(provider.calls) == 2
    assert set(store.final().values()) == {st.SENDING}


async def test_a_provider_that_raises_loses_no_message(autojump_clock: object) -> None:
    """An exception from ``send_batch`` is a provider bug: the batch is retried, and after
    ``max_attempts`` its messages are technical failures carrying the error."""
    provider = FakeProvider(raises=lambda now: RuntimeError("bug"))
    store = FakeStore()
    a = actor(provider, store, max_attempts=3, base_backoff=0.1)
    messages = [email(i) for i in range(3)]
    await feed(a, messages)
    async with running(a):
        with trio.fail_after(30):
            await wait_until(lambda: len(store.final()) == 3)
    assert len(provider.calls) == 3
    assert set(store.final().values()) == {st.TECHNICAL_FAILURE}
    final = [u for u in store.updates if u.provider is not None]
    assert {u.provider_response for u in final} == {"RuntimeError: bug"}


async def test_a_wrong_number_of_results_is_retried(autojump_clock: object) -> None:
    class ShortProvider(FakeProvider):
        async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]:
            results = await super().send_batch(messages)
            return results[:-1] if len(self.calls) == 1 else results

    provider, store = ShortProvider(), FakeStore()
    a = actor(provider, store, base_backoff=0.1)
    await feed(a, [email(i) for i in range(3)])
    async with running(a):
        with trio.fail_after(30):
            await wait_until(lambda: len(store.final()) == 3)
    assert [len(batch) for _, batch in provider.calls] == [3, 3]
    assert set(store.final().values()) == {st.SENDING}


async def test_rejected_is_a_permanent_failure_without_retry(autojump_clock: object) -> None:
    provider = FakeProvider(
        script=lambda m, now: "rejected" if m.to == "user1@example.com" else "accepted"
    )
    store = FakeStore()
    a = actor(provider, store)
    messages = [email(i) for i in range(3)]
    await feed(a, messages)
    async with running(a):
        with trio.fail_after(10):
            await wait_until(lambda: len(store.final()) == 3)
    assert len(provider.calls) == 1
    final = store.final()
    assert final[messages[1].notification_id] == st.PERMANENT_FAILURE
    assert final[messages[0].notification_id] == final[messages[2].notification_id] == st.SENDING


async def test_retries_never_deadlock_on_a_full_mailbox(autojump_clock: object) -> None:
    """Every first attempt is throttled while producers keep the tiny mailbox full."""
    tried: set[object] = set()

    def first_attempt_throttled(m: Outbound, now: float) -> str:
        if m.notification_id in tried:
            return "accepted"
        tried.add(m.notification_id)
        return "throttled"

    provider = FakeProvider(max_batch=5, script=first_attempt_throttled)  # type: ignore[arg-type]
    store = FakeStore()
    a = actor(provider, store, mailbox=5, concurrency=2, retry_capacity=10, base_backoff=0.2)
    async with running(a):
        with trio.fail_after(120):
            async with trio.open_nursery() as producers:
                for p in range(4):
                    producers.start_soon(feed, a, [email(p * 100 + i) for i in range(50)])
            await wait_until(lambda: len(store.final()) == 200)
    assert set(store.final().values()) == {st.SENDING}
    assert len(provider.sent()) == 400  # each message: one throttled try, one accepted


def test_backoff_is_exponential_capped_and_jittered() -> None:
    assert backoff_delay(1, 0.5, 60, 0.0) == 0.25
    assert backoff_delay(1, 0.5, 60, 0.999) == pytest.approx(0.5, abs=1e-3)
    assert backoff_delay(4, 0.5, 60, 0.0) == 2.0
    assert backoff_delay(20, 0.5, 60, 0.0) == 30.0  # capped at 60, jittered down to half


def test_send_rates_config() -> None:
    assert parse_send_rates("ses=14, sns=20.5") == {"ses": 14.0, "sns": 20.5}
    assert parse_send_rates("") == {}
    for bad in ("ses", "ses=fast", "ses=0"):
        with pytest.raises(ValueError, match="NOTIFY_PROVIDER_SEND_RATES"):
            parse_send_rates(bad)


# -- breaker and failover ---------------------------------------------------------------


async def test_failover_while_breaker_open_then_back_to_primary(autojump_clock: object) -> None:
    """The primary fails from t=0 to t=40. Its breaker opens, batches move to the secondary,
    a probe after the cool-down finds it still down, the next probe finds it healthy."""
    t0 = trio.current_time()

    def down_until_40(now: float) -> tuple[Outcome, str] | None:
        return ("retryable", "502 Bad Gateway") if now - t0 < 40 else None

    primary = FakeProvider("primary", max_batch=5, fails=down_until_40)
    secondary = FakeProvider("secondary", max_batch=5)
    store = FakeStore()
    b = actor(secondary, store)
    breaker = CircuitBreaker(FailureShare(0.5, min_volume=10), window=10, cooldown=30, probes=1)
    a = actor(primary, store, breaker=breaker, fallback=b, base_backoff=0.5)
    gauge = {"provider": "primary"}
    failovers_before = sample("notify_provider_failovers_total", **gauge)
    sent: list[Outbound] = []

    async def route(m: Outbound) -> None:
        # ProviderRoutes.route's rule: the first provider whose breaker takes traffic.
        target = a if a.available() else b
        sent.append(m)
        await target.send_channel.send(m)

    async with running(a, b):
        with trio.fail_after(200):
            for i in range(10):  # t=0: two failing batches open the breaker
                await route(email(i))
            await wait_until(lambda: breaker.state == "open")
            assert sample("notify_provider_breaker_open", **gauge) == 1
            # Open: new traffic goes straight to the secondary, and so do retries.
            for i in range(10, 20):
                await route(email(i))
            await wait_until(lambda: len(store.final()) == 20)
            assert {m.to for m in secondary.sent()} == {f"user{i}@example.com" for i in range(20)}
            assert sample("notify_provider_failovers_total", **gauge) > failovers_before
            # t=30: cool-down over; the probe fails (primary is down until t=40): open again.
            await trio.sleep_until(t0 + 31)
            assert a.available()
            await route(email(100))
            await wait_until(lambda: breaker.state == "open" and breaker.epoch >= 3)
            await wait_until(lambda: len(store.final()) == 21)
            assert not a.available()
            # t=61: the next probe succeeds; the breaker closes and traffic returns.
            await trio.sleep_until(t0 + 62)
            await route(email(200))
            await wait_until(lambda: breaker.state == "closed")
            for i in range(300, 310):
                await route(email(i))
            await wait_until(lambda: len(store.final()) == 32)
    assert sample("notify_provider_breaker_open", **gauge) == 0
    healthy = {m.to for t, batch in primary.calls if t - t0 >= 40 for m in batch}
    assert healthy == {f"user{i}@example.com" for i in (200, *range(300, 310))}
    assert len(store.final()) == len(sent)
    assert set(store.final().values()) == {st.SENDING}


async def test_queued_batches_fail_over_but_test_keys_stay(autojump_clock: object) -> None:
    breaker = CircuitBreaker(FailureShare(min_volume=1), cooldown=10)
    start = trio.current_time()
    epoch = breaker.acquire(start)
    assert epoch is not None
    breaker.record(epoch, start, 1, 1)  # forced open
    primary, secondary, store = FakeProvider("p1"), FakeProvider("p2"), FakeStore()
    b = actor(secondary, store)
    a = actor(primary, store, breaker=breaker, fallback=b)
    live = [email(i) for i in range(5)]
    test = email(99, key_type="test")
    await feed(a, [*live, test])  # already queued at the primary when its breaker opened
    async with running(a, b):
        with trio.fail_after(30):
            await wait_until(lambda: len(store.final()) == 6)
    assert [m.notification_id for m in secondary.sent()] == [m.notification_id for m in live]
    # The test-key message waited for the half-open probe instead of leaving.
    assert [m.notification_id for m in primary.sent()] == [test.notification_id]
    assert primary.calls[0][0] >= start + 10


async def test_without_fallback_batches_wait_for_the_probe(autojump_clock: object) -> None:
    breaker = CircuitBreaker(FailureShare(min_volume=1), cooldown=20)
    start = trio.current_time()
    epoch = breaker.acquire(start)
    assert epoch is not None
    breaker.record(epoch, start, 1, 1)
    provider, store = FakeProvider(), FakeStore()
    a = actor(provider, store, breaker=breaker)
    await feed(a, [email(i) for i in range(3)])
    async with running(a):
        with trio.fail_after(60):
            await wait_until(lambda: len(store.final()) == 3)
    # One probe batch after the cool-down carries all three; the breaker closes.
    assert len(provider.calls) == 1
    assert start + 20 <= provider.calls[0][0] <= start + 20 + _PROBE_POLL
    assert breaker.state == "closed"

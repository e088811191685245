"""SendPacer and the ProviderActor's paced calls on trio's mock clock: per-message pacing,
one rate for several actors sharing a bucket (the processes of a deployment), no sends
without a lease. The bucket is ``local_lease`` (the database's math in memory, passed in
as the lease seam); the SQL itself is tested in tests/store/test_send_rates.py."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from engine.actors.pacing import Lease, SendPacer, local_lease
from engine.actors.provider import ProviderActor
from engine.domain.breaker import CircuitBreaker, FailureShare
from engine.domain.pacing import LEASE_SECONDS
from engine.store.errors import DatabaseUnavailable
from tests.actors.fakes import FakeProvider, FakeStore, email, no_changes, wait_until
from tests.domain.test_pacing import max_in_window


def paced_actor(
    provider: FakeProvider, store: FakeStore, rate: float, lease: Lease
) -> ProviderActor:
    return ProviderActor(
        provider,  # type: ignore[arg-type]
        store,
        no_changes,
        pacer=SendPacer("fake", rate, lease),
        breaker=CircuitBreaker(FailureShare(min_volume=10**9)),
        rng=random.Random(7),
        mailbox=10_000,
    )


@asynccontextmanager
async def running(*actors: ProviderActor) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        for a in actors:
            await nursery.start(a.run)
        yield
        nursery.cancel_scope.cancel()


def send_times(*providers: FakeProvider) -> list[float]:
    return sorted(t for p in providers for t, batch in p.calls for _ in batch)


async def test_one_actor_paces_each_message_not_each_batch(autojump_clock: object) -> None:
    rate, count = 50.0, 500
    provider, store = FakeProvider(max_batch=50), FakeStore()
    a = paced_actor(provider, store, rate, local_lease())
    for i in range(count):
        a.send_channel.send_nowait(email(i))  # a backlog of full batches
    start = trio.current_time()
    async with running(a):
        with trio.fail_after(count / rate * 2):
            await wait_until(lambda: len(store.final()) == count)
    times = send_times(provider)
    took = times[-1] - start
    assert took == pytest.approx(count / rate, rel=0.05)
    # Per message: a call carries at most BURST_SECONDS of the pace, never a 50-message batch.
    assert max(len(batch) for _, batch in provider.calls) <= 5
    assert max_in_window(times, 1.0) <= 1.1 * rate
    assert max_in_window(times, 0.1) <= 0.1 * rate * 2


@pytest.mark.parametrize("actors", [3, 20])
async def test_actors_sharing_a_bucket_send_at_the_rate_in_total(
    autojump_clock: object, actors: int
) -> None:
    """The deployment: several processes, one bucket. On main each process had the whole
    rate (x N in total); here the total is the rate."""
    rate, each = 30.0, 600 // actors  # 20 s of sending in all
    lease = local_lease()
    providers = [FakeProvider(max_batch=50, latency=0.03) for _ in range(actors)]
    stores = [FakeStore() for _ in range(actors)]
    group = [paced_actor(p, s, rate, lease) for p, s in zip(providers, stores, strict=True)]
    for k, a in enumerate(group):
        for i in range(each):
            a.send_channel.send_nowait(email(k * each + i))
    start = trio.current_time()
    total = actors * each
    async with running(*group):
        with trio.fail_after(total / rate * 2):
            await wait_until(lambda: sum(len(s.final()) for s in stores) == total, 0.5)
    times = [t - start for t in send_times(*providers)]
    steady = [t for t in times if 2.0 <= t < times[-1] - 2.0]
    assert len(steady) / (times[-1] - 4.0) == pytest.approx(rate, rel=0.05)
    assert max_in_window(times, 1.0) <= 2 * rate
    # Every process gets a share soon: none waits for the others to finish. (First come,
    # first served: with 20 processes at 1.5/s each, one may wait up to ~10 s for its
    # first token; the total stays at the rate.)
    firsts = [p.calls[0][0] - start for p in providers]
    assert max(firsts) < (2.0 if actors == 3 else total / rate * 0.75)


async def test_no_lease_no_send_and_the_breaker_stays_closed(autojump_clock: object) -> None:
    bucket = local_lease()
    down = True
    asked = 0

    async def lease(provider: str, want: int, rate: float, capacity: float) -> int:
        nonlocal asked
        asked += 1
        if down:
            raise DatabaseUnavailable("database unavailable: test")
        return await bucket(provider, want, rate, capacity)

    provider, store = FakeProvider(max_batch=50), FakeStore()
    a = paced_actor(provider, store, 20.0, lease)
    for i in range(40):
        a.send_channel.send_nowait(email(i))
    async with running(a):
        await trio.sleep(10)
        assert provider.calls == []  # ten seconds down: nothing sent, not even a burst
        assert a.breaker.state == "closed"
        assert asked <= 10 / (LEASE_SECONDS / 2) + 1  # asks again, at a bounded pace
        down = False
        with trio.fail_after(10):
            await wait_until(lambda: len(store.final()) == 40)
    times = send_times(provider)
    assert times[-1] - times[0] == pytest.approx(40 / 20.0, rel=0.1)  # at the rate after


async def test_a_lease_held_when_the_database_goes_away_expires(autojump_clock: object) -> None:
    """Tokens leased before an outage are spent within their validity, then nothing."""
    granted: list[int] = []

    async def lease(provider: str, want: int, rate: float, capacity: float) -> int:
        if granted:
            raise DatabaseUnavailable("database unavailable: test")
        granted.append(want)
        return want

    provider, store = FakeProvider(max_batch=50), FakeStore()
    a = paced_actor(provider, store, 50.0, lease)
    for i in range(100):
        a.send_channel.send_nowait(email(i))
    start = trio.current_time()
    async with running(a):
        await trio.sleep(5)
    times = send_times(provider)
    assert len(times) == granted[0] == 10
    assert times[-1] - start <= 2 * LEASE_SECONDS


async def test_pacer_take_returns_at_most_what_was_asked(autojump_clock: object) -> None:
    pacer = SendPacer("fake", 100.0, local_lease())
    await trio.sleep(1)
    assert await pacer.take(1, backlog=1) == 1
    got = [await pacer.take(3, backlog=3) for _ in range(10)]
    assert all(1 <= n <= 3 for n in got)


async def test_pacer_logs_a_failing_lease_once(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def lease(provider: str, want: int, rate: float, capacity: float) -> int:
        nonlocal calls
        calls += 1
        if calls <= 5:
            raise RuntimeError("a bug in the lease")
        return want

    pacer = SendPacer("fake", 100.0, lease)
    with trio.fail_after(5):
        assert await pacer.take(1, backlog=1) == 1
    assert [r.message for r in caplog.records] == ["send rate lease failed"]

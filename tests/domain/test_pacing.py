"""Provider pacing math (``engine.domain.pacing``): the deployment's bucket and one process's
pacer. Pure: time is an argument. The shell and the actors on trio's mock clock are in
tests/actors/test_pacing.py; the SQL twin of the bucket in tests/store/test_send_rates.py."""

from __future__ import annotations

import pytest

from engine.domain.pacing import (
    BUCKET_SECONDS,
    LEASE_SECONDS,
    Pacer,
    SharedBucket,
    bucket_capacity,
    lease_size,
)


def test_bucket_starts_empty_refills_at_the_rate_up_to_its_capacity() -> None:
    bucket = SharedBucket(now=0.0)
    assert bucket.lease(10, rate=40, now=0.0) == 0  # a (re)started fleet does not burst
    assert bucket.lease(10, rate=40, now=0.1) == 4  # 0.1 s at 40/s
    assert bucket.lease(10, rate=40, now=100.0) == bucket_capacity(40) == 40 * BUCKET_SECONDS
    assert bucket.lease(10, rate=40, now=100.0) == 0
    assert bucket.lease(3, rate=40, now=101.0) == 3  # never more than asked


def test_bucket_grants_whole_tokens_and_keeps_the_fraction() -> None:
    bucket = SharedBucket(now=0.0)
    assert bucket.lease(10, rate=10, now=0.15) == 1  # 1.5 tokens: one granted
    assert bucket.tokens == pytest.approx(0.5)
    assert bucket.lease(10, rate=10, now=0.2) == 1  # 0.5 + 0.5
    assert bucket.tokens == pytest.approx(0.0)


def test_bucket_never_counts_an_interval_twice_when_a_lease_comes_late() -> None:
    bucket = SharedBucket(now=0.0)
    assert bucket.lease(100, rate=10, now=1.0) == 2  # capacity 2.5: 2 whole tokens
    assert bucket.lease(100, rate=10, now=0.5) == 0  # an older "now": nothing refills
    assert bucket.updated == 1.0
    assert bucket.lease(100, rate=10, now=1.1) == 1  # 0.5 left + 0.1 s


def test_lease_and_capacity_sizes() -> None:
    assert lease_size(50) == 10  # LEASE_SECONDS of the rate
    assert lease_size(1) == 1
    assert bucket_capacity(50) == 12.5
    assert bucket_capacity(1) == 1.0
    assert BUCKET_SECONDS > LEASE_SECONDS / 2  # the bucket outlasts the gap between asks
    with pytest.raises(ValueError, match="rate"):
        Pacer(0, now=0.0)


def test_pacer_asks_for_its_backlog_up_to_a_lease_then_waits_between_asks() -> None:
    pacer = Pacer(50, now=0.0)
    assert pacer.want(backlog=3, now=0.0) == 3
    assert pacer.want(backlog=1000, now=0.0) == lease_size(50)
    assert pacer.want(backlog=0, now=0.0) == 0
    pacer.leased(0, now=0.0)  # an empty bucket (or a failed lease)
    assert pacer.want(backlog=1000, now=0.05) == 0  # not before LEASE_SECONDS / 2
    assert pacer.want(backlog=1000, now=LEASE_SECONDS / 2) == lease_size(50)


def test_pacer_spends_a_lease_evenly_over_the_lease_period() -> None:
    pacer = Pacer(50, now=0.0)
    pacer.leased(10, now=0.0)  # 10 tokens over 0.2 s: one every 20 ms
    released: list[float] = []
    now = 0.0
    for _ in range(1000):
        n = pacer.take(100, now)
        released += [now] * n
        if len(released) == 10:
            break
        now += max(1e-6, pacer.wait(10 - len(released), now))
    assert len(released) == 10
    assert max(released.count(t) for t in released) <= 5  # BURST_SECONDS of the pace
    assert released[-1] <= LEASE_SECONDS + 1e-9
    assert pacer.take(100, now + 0.01) == 0  # the lease is spent: nothing without another


def test_pacer_credit_expires_unspent() -> None:
    pacer = Pacer(50, now=0.0)
    pacer.leased(10, now=0.0)
    assert pacer.held(2 * LEASE_SECONDS - 0.001) == 10
    assert pacer.held(2 * LEASE_SECONDS) == 0
    assert pacer.take(10, now=5.0) == 0  # a token is sent within its validity or never


def test_pacer_wait_is_never_negative_and_points_at_the_next_event() -> None:
    pacer = Pacer(50, now=0.0)
    assert pacer.wait(5, 0.0) == 0.0  # nothing held, may ask now
    pacer.leased(0, now=0.0)
    assert pacer.wait(5, 0.0) == pytest.approx(LEASE_SECONDS / 2)
    assert pacer.wait(0, 0.0) == pytest.approx(LEASE_SECONDS)  # idle: nothing to wait for
    pacer.leased(10, now=0.1)
    assert pacer.take(10, now=0.1) == 5  # the level idle time left: BURST_SECONDS of pace
    assert pacer.wait(10, 0.1) == pytest.approx(1 / 50)  # pace 10 / 0.2 s
    assert pacer.wait(5, 0.1) == pytest.approx(1 / 50)  # held 5: not low, no ask
    assert pacer.take(10, now=0.16) == 3
    assert pacer.wait(5, 0.16) == pytest.approx(0.02)  # the next release (ask: in 40 ms)
    assert pacer.wait(5, 0.17) == pytest.approx(0.01)  # half a token accrued since
    assert pacer.wait(5, 0.9) == 0.0


def simulate(processes: int, rate: float, seconds: float) -> list[float]:
    """``processes`` pacers with endless backlogs on one bucket, stepped event by event
    (each does what ``engine.actors.pacing.SendPacer.take`` does); the send times."""
    bucket = SharedBucket(now=0.0)
    pacers = [Pacer(rate, now=0.0) for _ in range(processes)]
    due = [i * 0.001 for i in range(processes)]  # each process's next turn
    sent: list[float] = []
    for _ in range(10_000_000):
        i = min(range(processes), key=due.__getitem__)
        now, pacer = due[i], pacers[i]
        if now >= seconds:
            break
        ask = pacer.want(1000, now)
        if ask:
            pacer.leased(bucket.lease(ask, rate, now), now)
            continue
        n = pacer.take(1000, now)
        sent += [now] * n
        if not n:
            due[i] = now + max(0.001, pacer.wait(1000, now))
    return sent


def max_in_window(times: list[float], width: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(("processes", "rate"), [(1, 30.0), (3, 30.0), (10, 50.0), (50, 200.0)])
def test_any_number_of_processes_sends_at_the_rate_without_bursts(
    processes: int, rate: float
) -> None:
    sent = simulate(processes, rate, seconds=20.0)
    steady = [t for t in sent if 2.0 <= t < 18.0]
    assert len(steady) / 16.0 == pytest.approx(rate, rel=0.05)
    assert len(sent) <= rate * 20 + bucket_capacity(rate)  # never over, from the start
    assert max_in_window(sent, 1.0) <= 2 * rate
    assert max_in_window(sent, 0.1) <= 0.1 * rate * 2 + 2  # smooth within the second too

"""CircuitBreaker state changes. Pure: the time is an argument."""

from __future__ import annotations

import pytest

from engine.actors.breaker import CircuitBreaker


def _batch(b: CircuitBreaker, now: float, total: int, failures: int) -> None:
    epoch = b.acquire(now)
    assert epoch is not None
    b.record(epoch, now, total, failures)


def test_opens_at_the_error_rate_only_with_enough_volume() -> None:
    b = CircuitBreaker(threshold=0.5, window=10, min_volume=20, cooldown=30)
    _batch(b, 0.0, 10, 10)  # 100% failures, but only 10 messages: not enough to judge
    assert b.state == "closed"
    _batch(b, 1.0, 10, 0)  # 10 of 20 failed: 50% reaches the threshold
    assert b.state == "open"
    assert not b.admits(1.0)
    assert b.acquire(29.0) is None
    assert b.retry_after(29.0) == pytest.approx(2.0)


def test_low_error_rate_stays_closed() -> None:
    b = CircuitBreaker(threshold=0.5, window=10, min_volume=20)
    for second in range(100):
        _batch(b, float(second), 10, 4)
    assert b.state == "closed"
    assert b.counts(99.0) == (100, 40)  # the sliding window holds the last 10 seconds only


def test_old_failures_slide_out_of_the_window() -> None:
    b = CircuitBreaker(threshold=0.5, window=10, min_volume=20)
    _batch(b, 0.0, 15, 15)
    _batch(b, 20.0, 15, 0)  # the failures at t=0 have left the window
    assert b.counts(20.0) == (15, 0)
    _batch(b, 21.0, 10, 6)  # 6 of 25: still closed
    assert b.state == "closed"


def test_half_open_probe_success_closes() -> None:
    b = CircuitBreaker(threshold=0.5, window=10, min_volume=2, cooldown=30, probes=2)
    _batch(b, 0.0, 2, 2)
    assert b.state == "open"
    assert b.admits(30.0)
    first = b.acquire(30.0)
    assert b.state == "half-open"
    second = b.acquire(30.0)
    assert first is not None
    assert second is not None
    assert b.acquire(30.0) is None  # only `probes` batches at a time
    assert not b.admits(30.0)
    b.record(first, 31.0, 10, 0)
    assert b.state == "half-open"
    b.record(second, 31.0, 10, 1)  # below the threshold counts as good
    assert b.state == "closed"
    assert b.counts(31.0) == (0, 0)  # closed again with a clean window


def test_half_open_probe_failure_reopens_for_another_cooldown() -> None:
    b = CircuitBreaker(threshold=0.5, window=10, min_volume=2, cooldown=30, probes=1)
    _batch(b, 0.0, 2, 2)
    probe = b.acquire(30.0)
    assert probe is not None
    b.record(probe, 31.0, 5, 5)
    assert b.state == "open"
    assert b.acquire(60.0) is None  # the new cool-down runs from the failed probe
    assert b.acquire(61.0) is not None
    assert b.state == "half-open"


def test_outcomes_from_an_older_epoch_are_ignored() -> None:
    b = CircuitBreaker(threshold=0.5, window=10, min_volume=2, cooldown=30, probes=1)
    slow = b.acquire(0.0)  # let through while closed, answers late
    assert slow is not None
    _batch(b, 0.0, 2, 2)
    probe = b.acquire(30.0)
    assert probe is not None
    b.record(slow, 30.5, 50, 0)  # a success from before the breaker opened decides nothing
    assert b.state == "half-open"
    b.record(probe, 31.0, 5, 0)
    assert b.state == "closed"


def test_an_interrupted_probe_gives_its_slot_back() -> None:
    b = CircuitBreaker(min_volume=1, cooldown=30, probes=1)
    _batch(b, 0.0, 1, 1)
    probe = b.acquire(30.0)
    assert probe is not None
    assert b.acquire(30.0) is None
    b.release(probe)  # cancelled before it was sent
    assert b.acquire(30.0) == probe


def test_rejects_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0)

"""CircuitBreaker state changes under both trip rules: the providers' failure share and the
callbacks' failure count. Pure: the time is an argument."""

from __future__ import annotations

import math

import pytest

from engine.domain import callbacks as cb
from engine.domain.breaker import CircuitBreaker, FailureCount, FailureShare


def _batch(b: CircuitBreaker, now: float, total: int, failures: int) -> None:
    epoch = b.acquire(now)
    assert epoch is not None
    b.record(epoch, now, total, failures)


def test_opens_at_the_error_rate_only_with_enough_volume() -> None:
    b = CircuitBreaker(FailureShare(0.5, min_volume=20), window=10, cooldown=30)
    _batch(b, 0.0, 10, 10)  # 100% failures, but only 10 messages: not enough to judge
    assert b.state == "closed"
    _batch(b, 1.0, 10, 0)  # 10 of 20 failed: 50% reaches the threshold
    assert b.state == "open"
    assert not b.admits(1.0)
    assert b.acquire(29.0) is None
    assert b.retry_after(29.0) == pytest.approx(2.0)


def test_low_error_rate_stays_closed() -> None:
    b = CircuitBreaker(FailureShare(0.5, min_volume=20), window=10)
    for second in range(100):
        _batch(b, float(second), 10, 4)
    assert b.state == "closed"
    assert b.counts(99.0) == (100, 40)  # the sliding window holds the last 10 seconds only


def test_old_failures_slide_out_of_the_window() -> None:
    b = CircuitBreaker(FailureShare(0.5, min_volume=20), window=10)
    _batch(b, 0.0, 15, 15)
    _batch(b, 20.0, 15, 0)  # the failures at t=0 have left the window
    assert b.counts(20.0) == (15, 0)
    _batch(b, 21.0, 10, 6)  # 6 of 25: still closed
    assert b.state == "closed"


def test_half_open_probe_success_closes() -> None:
    b = CircuitBreaker(FailureShare(0.5, min_volume=2), window=10, cooldown=30, probes=2)
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
    b = CircuitBreaker(FailureShare(0.5, min_volume=2), window=10, cooldown=30, probes=1)
    _batch(b, 0.0, 2, 2)
    probe = b.acquire(30.0)
    assert probe is not None
    b.record(probe, 31.0, 5, 5)
    assert b.state == "open"
    assert b.acquire(60.0) is None  # the new cool-down runs from the failed probe
    assert b.acquire(61.0) is not None
    assert b.state == "half-open"


def test_outcomes_from_an_older_epoch_are_ignored() -> None:
    b = CircuitBreaker(FailureShare(0.5, min_volume=2), window=10, cooldown=30, probes=1)
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
    b = CircuitBreaker(FailureShare(min_volume=1), cooldown=30, probes=1)
    _batch(b, 0.0, 1, 1)
    probe = b.acquire(30.0)
    assert probe is not None
    assert b.acquire(30.0) is None
    b.release(probe)  # cancelled before it was sent
    assert b.acquire(30.0) == probe


def test_rejects_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        FailureShare(threshold=0)
    with pytest.raises(ValueError, match="max_failures"):
        FailureCount(0)


def test_record_says_which_outcome_opened_the_breaker() -> None:
    b = CircuitBreaker(FailureShare(0.5, min_volume=2), window=10, cooldown=30)
    epoch = b.acquire(0.0)
    assert epoch is not None
    assert not b.record(epoch, 0.0, 1, 1)  # below min_volume
    assert b.record(epoch, 0.0, 1, 1)
    assert not b.record(epoch, 0.0, 1, 1)  # an older epoch now: decides nothing


# -- the callbacks' rule: a count of failures, open until reset ------------------------


def _failure(b: CircuitBreaker, now: float) -> bool:
    """A failed callback attempt, as a CallbackActor records it; True if it tripped."""
    epoch = b.acquire(now)
    return epoch is not None and b.record(epoch, now, 1, 1)


def test_suspension_breaker_trips_on_25_failures_within_5_minutes() -> None:
    breaker = cb.suspension_breaker()
    trips = [_failure(breaker, float(t)) for t in range(25)]
    assert trips == [False] * 24 + [True]
    assert breaker.state == "open"


def test_suspension_breaker_ignores_failures_spread_over_more_than_5_minutes() -> None:
    breaker = cb.suspension_breaker()
    # One failure every 13 s: 25 of them span 312 s > 300 s.
    assert not any(_failure(breaker, t * 13.0) for t in range(25))
    # The window slides: the next failures fall within 300 s of the 25th-before.
    times = [25 * 13.0 + i for i in range(30)]
    assert sum(_failure(breaker, t) for t in times) == 1  # trips once, then stays open
    assert breaker.state == "open"


def test_suspension_breaker_stays_open_until_reset() -> None:
    breaker = cb.suspension_breaker()
    for t in range(25):
        _failure(breaker, float(t))
    assert breaker.acquire(10.0**9) is None  # no cool-down: the manager decides
    assert not breaker.admits(10.0**9)
    breaker.reset()
    assert breaker.state == "closed"
    assert breaker.counts(10.0**9) == (0, 0)


def test_failure_count_reset_starts_over() -> None:
    breaker = CircuitBreaker(FailureCount(3), window=10.0, cooldown=math.inf)
    before = breaker.acquire(0.0)
    assert before is not None
    _failure(breaker, 0.0)
    _failure(breaker, 1.0)
    breaker.reset()
    assert not breaker.record(before, 1.5, 1, 1)  # sent before the reset: not counted
    assert not _failure(breaker, 2.0)
    assert not _failure(breaker, 3.0)
    assert _failure(breaker, 4.0)


def test_failure_count_ignores_successes() -> None:
    breaker = CircuitBreaker(FailureCount(3), window=10.0)
    epoch = breaker.acquire(0.0)
    assert epoch is not None
    assert not breaker.record(epoch, 0.0, 1000, 2)  # 2 failures among 1,000: closed
    assert breaker.record(epoch, 1.0, 1, 1)  # the third failure within the window trips


def test_failure_count_probe_fails_on_any_failure() -> None:
    breaker = CircuitBreaker(FailureCount(2), window=10.0, cooldown=5.0)
    _failure(breaker, 0.0)
    assert _failure(breaker, 0.0)
    probe = breaker.acquire(5.0)
    assert probe is not None
    assert breaker.record(probe, 5.0, 10, 1)  # one failure of ten: open again
    probe = breaker.acquire(10.0)
    assert probe is not None
    assert not breaker.record(probe, 10.0, 10, 0)
    assert breaker.state == "closed"

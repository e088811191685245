"""Rate-limit and quota math: the API's token bucket, the providers' send rate, the fiscal
year. Pure functions: time is an argument."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.domain.limits import SendRate, TokenBucket, fiscal_year_start


def test_api_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(1000, now=0.0)  # GC default: 1000 per minute
    assert bucket.capacity == 335  # ceil(1000 / 3) + 1
    assert sum(bucket.take(0.0) for _ in range(400)) == 335
    assert not bucket.take(0.0)
    assert not bucket.take(0.05)  # 0.83 tokens after 50 ms
    assert bucket.take(0.06)  # 1.0 token after 60 ms
    assert sum(bucket.take(60.06) for _ in range(400)) == 335  # refilled, but only to capacity


def test_api_bucket_capacity_is_capped() -> None:
    assert TokenBucket(60_000, now=0.0).capacity == 1000


@pytest.mark.parametrize(
    ("rate", "burst", "count", "batch"), [(100, 10, 1000, 50), (14, 1, 140, 1)]
)
def test_send_rate_spaces_n_messages_over_n_over_r(
    rate: float, burst: float, count: int, batch: int
) -> None:
    bucket = SendRate(rate, now=0.0, burst=burst)
    now = 0.0
    for _ in range(count // batch):
        now += bucket.reserve(batch, now)  # the caller sleeps for the returned time
    assert now == pytest.approx((count - burst) / rate)


def test_send_rate_reservations_queue_up_and_idle_time_refills_the_burst() -> None:
    bucket = SendRate(10, now=0.0, burst=5)
    assert bucket.reserve(5, 0.0) == 0.0  # the burst
    assert bucket.reserve(10, 0.0) == pytest.approx(1.0)  # in debt: wait a second
    assert bucket.reserve(10, 0.0) == pytest.approx(2.0)  # queued behind the first
    assert bucket.reserve(5, 100.0) == 0.0  # long idle: full burst again, not more
    assert bucket.reserve(1, 100.0) == pytest.approx(0.1)


def test_send_rate_defaults_and_validation() -> None:
    assert SendRate(14, now=0.0).burst == pytest.approx(1.4)
    assert SendRate(1, now=0.0).burst == 1.0
    with pytest.raises(ValueError, match="rate"):
        SendRate(0, now=0.0)


@pytest.mark.parametrize(
    ("today", "start"),
    [
        (dt.date(2026, 3, 31), dt.date(2025, 4, 1)),
        (dt.date(2026, 4, 1), dt.date(2026, 4, 1)),
        (dt.date(2026, 12, 31), dt.date(2026, 4, 1)),
    ],
)
def test_fiscal_year_starts_april_first(today: dt.date, start: dt.date) -> None:
    assert fiscal_year_start(today) == start

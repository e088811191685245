"""Rate-limit and quota math: the API's token bucket, the fiscal year (the providers' send
rate: tests/domain/test_pacing.py). Pure functions: time is an argument."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.domain.limits import TokenBucket, fiscal_year_start


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
    ("today", "start"),
    [
        (dt.date(2026, 3, 31), dt.date(2025, 4, 1)),
        (dt.date(2026, 4, 1), dt.date(2026, 4, 1)),
        (dt.date(2026, 12, 31), dt.date(2026, 4, 1)),
    ],
)
def test_fiscal_year_starts_april_first(today: dt.date, start: dt.date) -> None:
    assert fiscal_year_start(today) == start

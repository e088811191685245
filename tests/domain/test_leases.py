"""The lease math with plain numbers: grants never exceed what the row has, the need is
granted whole or not at all, blocks shrink near the end, demand sizes the block."""

from __future__ import annotations

import datetime as dt

from engine.domain import leases


def test_a_grant_never_exceeds_what_is_available_and_the_need_is_whole_or_nothing() -> None:
    assert leases.grant(need=5, want=100, available=4, lessees=1) == 0
    assert leases.grant(need=5, want=100, available=5, lessees=3) == 5
    assert leases.grant(need=1, want=100, available=1000, lessees=1) == 100
    assert leases.grant(need=0, want=100, available=0.9, lessees=1) == 0  # a fraction of a token
    assert leases.grant(need=2000, want=2000, available=2000, lessees=50) == 2000  # a bulk sheet


def test_blocks_shrink_as_the_budget_runs_out() -> None:
    # Beyond the need, at most (available - need) / (2 x lessees).
    assert leases.grant(need=1, want=100, available=61, lessees=3) == 11
    assert leases.grant(need=1, want=100, available=6, lessees=3) == 1  # the tail: one by one
    assert leases.grant(need=0, want=100, available=5, lessees=3) == 0


def test_many_lessees_round_robin_never_exceed_and_strand_little() -> None:
    # 50 processes each lease a block whenever theirs is empty; the table is never overdrawn
    # and, when it is dry, what the others still hold unspent is under 5% of the limit.
    for lessees in (1, 3, 50):
        limit, used = 2000, 0
        held = [0] * lessees
        admitted = 0
        for i in range(10 * limit):
            p = i % lessees
            if held[p] == 0:
                g = leases.grant(1, 100, limit - used, lessees)
                used += g
                held[p] += g
            if held[p]:
                held[p] -= 1
                admitted += 1
            if used == limit and admitted >= limit - sum(held):
                break
        assert used <= limit
        assert sum(held) <= 0.05 * limit, (lessees, sum(held))


def test_a_bucket_refills_at_the_rate_up_to_its_capacity() -> None:
    assert leases.bucket_shape(600) == (201.0, 10.0)
    assert leases.bucket_shape(100_000) == (1000.0, 100_000 / 60)
    assert leases.refilled(0.0, 600, 2.0) == 20.0
    assert leases.refilled(150.0, 600, 60.0) == 201.0
    assert leases.refilled(5.0, 600, -1.0) == 5.0  # a clock step back refills nothing
    assert leases.retry_after("rate:normal", 600, 0.5, 1) == 0.05
    assert leases.retry_after("daily:email", 10, 0, 1) == leases.EXHAUSTED_RETRY_S


def test_the_block_follows_the_process_own_demand() -> None:
    d = leases.Demand(0.0)
    assert d.chunk() == leases.MIN_CHUNK
    for i in range(4000):  # 200 a second for 20 s
        d.spent(1, i / 200)
    assert 180 <= d.chunk() <= 220
    d.spent(0, 60.0)  # quiet for 40 s
    assert d.chunk() == leases.MIN_CHUNK
    assert leases.low(3, 8)
    assert not leases.low(4, 8)


def test_windows() -> None:
    day = dt.date(2027, 1, 15)
    assert leases.daily_key("sms", day) == ("daily:sms", day)
    assert leases.annual_key("sms", day) == ("annual:sms", dt.date(2026, 4, 1))
    assert leases.rate_key("team") == ("rate:team", leases.RATE_WINDOW)

"""The lease SQL (``engine.store.budgets``) on PostgreSQL: concurrent leases by several
processes' worth of lessees never hand out more than a budget has, a new row starts from
the stored notifications, a bucket refills from the database's clock, give-backs return."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import trio

from engine.domain import leases
from engine.domain.leases import GiveBack, LeaseRequest
from engine.store.budgets import seed
from engine.store.counts import SentCounts
from engine.store.store import Store
from tests import sql
from tests.store.test_store import make_row

TODAY = dt.datetime.now(dt.UTC).date()


def daily(limit: int, need: int, want: int) -> LeaseRequest:
    return LeaseRequest("daily:email", TODAY, limit, need, want)


async def test_concurrent_leases_never_over_grant(store: Store) -> None:
    sid = uuid.uuid4()
    granted: list[int] = []

    async def lessee() -> None:  # one process's leases: a block whenever it asks
        for _ in range(40):
            [g] = await store.budgets.lease(sid, [daily(1000, 1, 50)], today=TODAY)
            granted.append(g.granted)
            assert g.available >= 0

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(lessee)
    assert sum(granted) == 1000  # all of it, and not one more
    [row] = await sql.fetch(store, "SELECT used FROM budgets WHERE service_id = $1", sid)
    assert row["used"] == 1000
    # The need is whole or nothing: a dry budget grants 0.
    [g] = await store.budgets.lease(sid, [daily(1000, 1, 1)], today=TODAY)
    assert (g.granted, g.available) == (0, 0.0)


async def test_grants_shrink_by_the_live_processes(store: Store) -> None:
    sid = uuid.uuid4()
    for _ in range(3):
        await store.recovery.register(uuid.uuid4(), hostname="h", pid=1)
    [g] = await store.budgets.lease(sid, [daily(61, 1, 100)], today=TODAY)
    assert g.granted == leases.grant(1, 100, 61, 3) == 11


async def test_a_new_row_starts_from_the_stored_notifications(store: Store) -> None:
    sid = uuid.uuid4()
    await store.insert_notifications([make_row(service_id=sid) for _ in range(7)])
    await store.insert_notifications([make_row(service_id=sid, key_type="test")])
    [g] = await store.budgets.lease(sid, [daily(10, 3, 3)], today=TODAY)
    assert (g.granted, g.available) == (3, 0.0)
    await store.budgets.give_back(sid, [GiveBack("daily:email", TODAY, 10, 2)])
    [g] = await store.budgets.lease(sid, [daily(10, 0, 0)], today=TODAY)
    assert g.available == 2.0


async def test_a_rate_bucket_refills_from_the_database_clock(store: Store) -> None:
    sid = uuid.uuid4()

    def rate(need: int, want: int) -> LeaseRequest:  # 600/min: 201 tokens, 10/s
        return LeaseRequest("rate:normal", leases.RATE_WINDOW, 600, need, want)

    [g] = await store.budgets.lease(sid, [rate(201, 201)], today=TODAY)
    assert g.granted == 201
    [g] = await store.budgets.lease(sid, [rate(0, 1000)], today=TODAY)
    assert g.granted == 0  # a few ms refilled a fraction of a token
    await trio.sleep(0.35)
    [g] = await store.budgets.lease(sid, [rate(1, 1)], today=TODAY)
    assert g.granted == 1
    assert 1 <= g.available <= 6
    await store.budgets.give_back(sid, [GiveBack("rate:normal", leases.RATE_WINDOW, 600, 500)])
    [g] = await store.budgets.lease(sid, [rate(202, 202)], today=TODAY)
    assert g.granted == 0  # never past the capacity
    assert g.available == 201.0


async def test_a_toronto_services_day_is_a_new_window_at_05_utc_in_winter(store: Store) -> None:
    """Issue 22: the daily budget of a service in America/Toronto is its local day. At
    04:59:59 UTC on January 16 it is still January 15 there (the window of day D, seeded
    from what was stored since 05:00 UTC on the 15th); at 05:00 UTC a new window begins,
    seeded from nothing sent since local midnight."""
    from engine.actors.service import ServiceActor
    from tests.actors.test_service import service

    s = msgspec.structs.replace(service(), time_zone="America/Toronto", email_daily_limit=4)
    at = [dt.datetime(2026, 1, 16, 4, 59, 59, tzinfo=dt.UTC)]
    stored = [
        dt.datetime(2026, 1, 15, 4, 30, tzinfo=dt.UTC),  # January 14, 23:30 in Toronto
        *[dt.datetime(2026, 1, 16, 4, 30, tzinfo=dt.UTC)] * 3,  # January 15, 23:30
    ]
    await store.insert_notifications([make_row(service_id=s.id, created_at=c) for c in stored])

    async def route(message: object) -> None:
        raise AssertionError("not sent")

    actor = ServiceActor(s, route, store.budgets, clock=lambda: at[0])
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await (await actor.admit("normal")).take("email", units=1)
        at[0] = dt.datetime(2026, 1, 16, 5, 0, tzinfo=dt.UTC)  # midnight in Toronto
        await (await actor.admit("normal")).take("email", units=1)
        nursery.cancel_scope.cancel()  # gives every unspent block back
    rows = await sql.fetch(
        store,
        "SELECT window_start, used FROM budgets WHERE service_id = $1 AND kind = 'daily:email'"
        " ORDER BY window_start",
        s.id,
    )
    assert [r["window_start"] for r in rows] == [dt.date(2026, 1, 15), dt.date(2026, 1, 16)]
    # Day D: the three of the 15th (local) and the one sent then meet the limit of 4
    # exactly (counted from UTC midnight, 4 were stored already: the send is refused).
    assert rows[0]["used"] == 3 + 1
    # Day D+1 starts from nothing stored since local midnight (from UTC midnight: 3 + 1).
    assert rows[1]["used"] < 3 + 1
    [year] = await sql.fetch(
        store, "SELECT used FROM budgets WHERE service_id = $1 AND kind = 'annual:email'", s.id
    )
    assert year["used"] >= 4 + 2  # fiscal year 2025 (April 1, Toronto): all of them


def test_a_new_annual_sms_budget_is_seeded_in_fragments() -> None:
    """The stored year counts billable units, as the lease then does (GC's billable units)."""
    sent = [SentCounts(notification_type="sms", today_messages=2, today_units=5,
                       year_messages=4, year_units=9)]  # fmt: skip
    assert seed("annual:sms", sent) == 9
    assert seed("daily:sms", sent) == 5

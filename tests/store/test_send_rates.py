"""The deployment's send-rate bucket in PostgreSQL (``engine.store.send_rates``): the lease
statement refills from ``now()``, caps at the capacity, starts empty, and two lessees
(two stores: two processes' pools) leasing as fast as they can never overdraw it."""

from __future__ import annotations

import time

import trio

from engine.store.store import Store
from tests import sql


async def test_the_bucket_starts_empty_refills_and_caps(store: Store) -> None:
    leases = store.send_rates
    assert await leases.lease("ses", 10, 40.0, 10.0) == 0  # created empty: no start burst
    await sql.execute(
        store, "UPDATE send_rates SET updated_at = now() - interval '10 seconds'"
    )  # 400 tokens of refill, capped at 10
    assert await leases.lease("ses", 6, 40.0, 10.0) == 6
    assert await leases.lease("ses", 6, 40.0, 10.0) == 4  # what is left, whole tokens
    row = await sql.fetchrow(store, "SELECT tokens, granted FROM send_rates")
    assert 0 <= row["tokens"] < 1
    assert row["granted"] == 4
    # Each provider has its own bucket.
    assert await leases.lease("sns", 6, 40.0, 10.0) == 0
    assert [r["provider"] for r in await sql.fetch(store, "SELECT provider FROM send_rates")] == [
        "ses",
        "sns",
    ]


async def test_an_older_now_refills_nothing(store: Store) -> None:
    leases = store.send_rates
    await leases.lease("ses", 1, 10.0, 100.0)
    await sql.execute(
        store, "UPDATE send_rates SET tokens = 0, updated_at = now() + interval '5 seconds'"
    )  # the last lease's now() is later than ours (it started later, committed first)
    assert await leases.lease("ses", 100, 10.0, 100.0) == 0
    row = await sql.fetchrow(
        store, "SELECT updated_at > now() + interval '4 s' AS kept FROM send_rates"
    )
    assert row["kept"]  # updated_at never moves back


async def test_two_lessees_never_overdraw_the_bucket(store: Store, database_url: str) -> None:
    rate, capacity = 200.0, 50.0
    granted = [0, 0]
    async with Store.open(database_url) as other:
        lessees = [store.send_rates, other.send_rates]
        await lessees[0].lease("ses", 1, rate, capacity)  # creates the row (empty)
        await sql.execute(store, "UPDATE send_rates SET tokens = 0, updated_at = now()")
        started = time.monotonic()

        async def hammer(k: int) -> None:
            for _ in range(100_000):  # bounded by time below
                got = await lessees[k].lease("ses", 7, rate, capacity)
                granted[k] += got  # not `+= await`: that reads granted[k] before the wait
                if time.monotonic() - started > 2.0:
                    return

        async with trio.open_nursery() as nursery:
            for k in range(2):
                for _ in range(4):  # four concurrent statements per lessee
                    nursery.start_soon(hammer, k)
        elapsed = time.monotonic() - started
    row = await sql.fetchrow(store, "SELECT tokens FROM send_rates WHERE provider = 'ses'")
    assert row["tokens"] >= 0
    total = sum(granted)
    assert total <= rate * elapsed + 1  # never more than the refill (it started empty)
    assert total >= rate * (elapsed - 0.5) * 0.9  # nor lost
    assert min(granted) > 0  # both got some

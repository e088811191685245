"""The read replica (``engine.store.replica``, ``DATABASE_REPLICA_URL``) against a real
streaming replica of a primary of the test's own (``tests.pg_replica``): the v2 reads go
to the replica; a GET of a row the replica has not replayed yet is answered by the primary
(never a 404); the list and the search show the replica's view (the lag tolerated); with
the replica down every read is the primary's, and the replica is used again once back.
Lag is made by pausing the replica's replay (``pg_wal_replay_pause``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from prometheus_client import REGISTRY

from engine.crypto import DataKeys
from engine.domain import statuses as st
from engine.domain.timestamps import utcnow
from engine.store.notifications import StatusUpdate
from engine.store.replica import RETRY_S, Replica
from engine.store.store import Store
from tests import sql
from tests.pg_replica import PgPair, pg_primary_and_replica
from tests.store.test_store import make_row

KEYS = DataKeys(["replica-test-data-key-0123456789"])
EMAIL = "replica.reader@example.com"


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("notify_replica_fallbacks_total", {"reason": reason}) or 0.0


@asynccontextmanager
async def replicated_store() -> AsyncIterator[tuple[Store, PgPair]]:
    pair_cm = pg_primary_and_replica()
    pair = await trio.to_thread.run_sync(pair_cm.__enter__)
    try:
        async with (
            Store.open(pair.primary_dsn, linger_ms=1.0, data_keys=KEYS,
                       replica_dsn=pair.replica_dsn, replica_pool_size=2) as store,
            trio.open_nursery() as nursery,
        ):  # fmt: skip
            await nursery.start(store.run)
            await store.migrate()
            yield store, pair
            await store.close()
    finally:
        await trio.to_thread.run_sync(pair_cm.__exit__, None, None, None)


async def replayed(store: Store) -> None:
    """Until the replica has replayed everything the primary has written so far (polled:
    the replica tells no one; bounded)."""
    [lsn] = await sql.fetch(store, "SELECT pg_current_wal_insert_lsn()::text AS lsn")
    caught_up = "SELECT pg_last_wal_replay_lsn() >= ($1::text)::pg_lsn"
    for _ in range(1500):
        if (await sql.on_replica(store, caught_up, lsn["lsn"]))[0][0]:
            return
        await trio.sleep(0.02)
    raise AssertionError("the replica did not catch up in 30 s")


async def pause_replay(store: Store) -> None:
    await sql.on_replica(store, "SELECT pg_wal_replay_pause()")
    for _ in range(1500):
        state = await sql.on_replica(store, "SELECT pg_get_wal_replay_pause_state()")
        if state[0][0] == "paused":
            return
        await trio.sleep(0.02)
    raise AssertionError("the replica's replay did not pause in 30 s")


async def listed(store: Store, service_id: uuid.UUID) -> set[uuid.UUID]:
    page = await store.notifications.page(
        service_id, "normal", types=[], statuses=[], reference=None, include_jobs=True,
        older_than=None, limit=50,
    )  # fmt: skip
    return {r["id"] for r in page}


async def test_reads_use_the_replica_and_a_get_it_lacks_falls_back_to_the_primary(
    aio_loop: None,
) -> None:
    async with replicated_store() as (store, pair):
        sid = uuid.uuid4()
        await sql.execute(store, "INSERT INTO services (id, name, email_from) VALUES"
                          " ($1, 's', 's')", sid)  # fmt: skip
        first = make_row(service_id=sid, recipient=EMAIL)
        await store.insert_notifications([first])
        await replayed(store)
        await pause_replay(store)
        # The primary moves on; the replica does not replay it.
        await store.update_statuses([StatusUpdate(id=first.id, status=st.SENDING, at=utcnow())])
        second = make_row(service_id=sid, recipient=EMAIL)
        await store.insert_notifications([second])
        [primary] = await sql.fetch(store, "SELECT status FROM notifications WHERE id = $1",
                                    first.id)  # fmt: skip
        assert primary["status"] == st.SENDING

        missing_before = fallbacks("missing")
        got = await store.notifications.get(sid, first.id)
        assert got is not None
        assert got["status"] == st.CREATED  # the replica's view: this GET was served there
        assert got["recipient"] == EMAIL
        new = await store.notifications.get(sid, second.id)  # not on the replica yet
        assert new is not None  # the primary answered: never a 404 for a row it has
        assert new["recipient"] == EMAIL
        assert fallbacks("missing") == missing_before + 1
        assert await store.notifications.get(sid, uuid.uuid4()) is None  # unknown: 404
        # The list and the search are the replica's (they lack the newest row: the lag).
        assert await listed(store, sid) == {first.id}
        assert [r["id"] for r in await store.notifications.by_recipient(sid, EMAIL)] == [first.id]

        await sql.on_replica(store, "SELECT pg_wal_replay_resume()")
        await replayed(store)
        got = await store.notifications.get(sid, first.id)
        assert got is not None
        assert got["status"] == st.SENDING
        assert await listed(store, sid) == {first.id, second.id}

        # The replica goes away: every read is the primary's, no error reaches the caller.
        await trio.to_thread.run_sync(pair.stop_replica)
        unavailable_before = fallbacks("unavailable")
        third = make_row(service_id=sid, recipient=EMAIL)
        await store.insert_notifications([third])
        for _ in range(2):  # the first finds its connection dead, the next cannot connect
            assert await listed(store, sid) == {first.id, second.id, third.id}
            assert await store.notifications.get(sid, third.id) is not None
        assert fallbacks("unavailable") >= unavailable_before + 2
        # Back again: used once RETRY_S has passed (a replica on a clock of the test's own,
        # sharing the store's pool and thread).
        now = [0.0]
        replica = store._pipe.replica
        assert replica is not None
        own = Replica(store._pipe.db.thread, replica.pool, clock=lambda: now[0])
        assert await own.fetch("SELECT 1") is None  # down: not tried again for RETRY_S
        await trio.to_thread.run_sync(pair.start_replica)  # pg_ctl -w: accepting reads
        now[0] += RETRY_S / 2
        assert await own.fetch("SELECT 1") is None  # not tried yet
        now[0] += RETRY_S
        rows = await own.fetch("SELECT 1")
        assert rows is not None
        assert rows[0][0] == 1

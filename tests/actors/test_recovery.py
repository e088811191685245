"""Recovery claims what nobody alive owns, never what a live worker holds, and applies the
contract's 3-day timeouts. Real PostgreSQL; the requeue step is a recording fake."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import trio

from engine.actors.recovery import Recovery
from engine.domain import statuses as st
from engine.domain.timestamps import utcnow
from engine.store.notifications import StatusChange, StatusUpdate
from engine.store.store import Store
from tests import sql
from tests.store.test_store import make_row


class Recorder:
    def __init__(self) -> None:
        self.requeued: list[uuid.UUID] = []
        self.changes: list[StatusChange] = []

    async def requeue(self, rows: Sequence[Any]) -> int:
        self.requeued.extend(r["id"] for r in rows)
        return len(rows)

    async def on_changes(self, changes: Sequence[StatusChange]) -> None:
        self.changes.extend(changes)


async def _recovery(store: Store, rec: Recorder, **kw: Any) -> Recovery:
    r = Recovery(store, rec.requeue, rec.on_changes, **kw)
    await r.register()
    return r


async def _dead_worker(store: Store) -> uuid.UUID:
    wid = uuid.uuid4()
    await sql.execute(
        store,
        "INSERT INTO workers (id, hostname, pid, heartbeat_at) VALUES ($1, 'gone', 1, $2)",
        wid,
        utcnow() - dt.timedelta(minutes=10),
    )
    return wid


async def test_claims_unowned_and_dead_owned_rows_only(store: Store) -> None:
    rec = Recorder()
    me = await _recovery(store, rec)
    other_live = await _recovery(store, Recorder())
    dead = await _dead_worker(store)
    unowned = make_row(owner=None)
    live_owned = make_row(owner=other_live.worker_id)
    dead_owned = make_row(owner=dead)
    future = make_row(owner=None, scheduled_for=utcnow() + dt.timedelta(hours=1))
    due = make_row(owner=None, scheduled_for=utcnow() - dt.timedelta(seconds=1))
    await store.insert_notifications([unowned, live_owned, dead_owned, future, due])

    assert await me.sweep() == 3
    assert set(rec.requeued) == {unowned.id, dead_owned.id, due.id}
    owners = await sql.fetch(store, "SELECT id, owner FROM notifications")
    by_id = {r["id"]: r["owner"] for r in owners}
    assert by_id[unowned.id] == me.worker_id
    assert by_id[live_owned.id] == other_live.worker_id
    assert by_id[future.id] is None
    # A second sweep finds nothing: the claimed rows are ours now, and we are alive.
    assert await me.sweep() == 0


async def test_interrupted_provider_call_is_resent_once(store: Store) -> None:
    rec = Recorder()
    me = await _recovery(store, rec)
    dead = await _dead_worker(store)
    in_call = make_row(owner=dead)
    accepted = make_row(owner=dead)
    await store.insert_notifications([in_call, accepted])
    await store.update_statuses(
        [
            StatusUpdate(id=in_call.id, status=st.SENDING, at=utcnow()),
            StatusUpdate(id=accepted.id, status=st.SENDING, at=utcnow(), provider_reference="ref"),
        ]
    )
    await me.sweep()
    # Only the one without a provider reference: the other was accepted by the provider.
    assert rec.requeued == [in_call.id]


async def test_two_workers_never_claim_the_same_row(store: Store) -> None:
    rows = [make_row(owner=None) for _ in range(300)]
    await store.insert_notifications(rows)
    a, b = Recorder(), Recorder()
    ra = await _recovery(store, a, batch=50)
    rb = await _recovery(store, b, batch=50)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ra.sweep)
            nursery.start_soon(rb.sweep)
    assert not set(a.requeued) & set(b.requeued)
    assert len(a.requeued) + len(b.requeued) == 300


async def test_three_day_timeouts(store: Store) -> None:
    rec = Recorder()
    me = await _recovery(store, rec)
    old = utcnow() - dt.timedelta(days=3, minutes=1)
    stuck_created = make_row(created_at=old, owner=me.worker_id)
    stuck_sending = make_row(created_at=old, owner=me.worker_id)
    fresh = make_row(owner=me.worker_id)
    await store.insert_notifications([stuck_created, stuck_sending, fresh])
    await store.update_statuses([StatusUpdate(id=stuck_sending.id, status=st.SENDING, at=old)])
    await me.apply_timeouts()
    statuses = {
        r["id"]: r["status"] for r in await sql.fetch(store, "SELECT id, status FROM notifications")
    }
    assert statuses[stuck_created.id] == st.TECHNICAL_FAILURE
    assert statuses[stuck_sending.id] == st.TEMPORARY_FAILURE
    assert statuses[fresh.id] == st.CREATED
    assert {c.id for c in rec.changes} == {stuck_created.id, stuck_sending.id}


async def test_housekeeping_runs_with_the_timeouts_and_a_failing_job_stops_nothing(
    store: Store,
) -> None:
    rec, ran = Recorder(), trio.Event()

    async def broken() -> None:
        raise RuntimeError("housekeeping bug")

    async def deletes() -> None:
        ran.set()

    old = make_row(created_at=utcnow() - dt.timedelta(days=4))
    await store.insert_notifications([old])
    me = await _recovery(store, rec, housekeeping=[broken, deletes], sweep_every=60)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(me.run)
            await ran.wait()
            nursery.cancel_scope.cancel()
    row = await sql.fetchrow(store, "SELECT status FROM notifications WHERE id = $1", old.id)
    assert row["status"] == st.TECHNICAL_FAILURE  # the timeouts ran in the same pass


async def test_shutdown_releases_unsent_rows(store: Store) -> None:
    rec = Recorder()
    me = await _recovery(store, rec)
    row = make_row(owner=me.worker_id)
    await store.insert_notifications([row])
    await me.shutdown()
    found = await sql.fetchrow(store, "SELECT owner FROM notifications WHERE id = $1", row.id)
    assert found["owner"] is None
    assert await sql.fetchrow(store, "SELECT 1 FROM workers WHERE id = $1", me.worker_id) is None

"""Recovery claims what nobody alive owns, never what a live worker holds, and applies the
contract's 3-day timeouts. Real PostgreSQL; the requeue step is a recording fake."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import Any

import trio

from engine.actors.recovery import Recovery
from engine.domain import statuses as st
from engine.domain.timestamps import utcnow
from engine.store.errors import DatabaseUnavailable
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


async def _up_for_an_hour(store: Store, r: Recovery) -> None:
    """``r``'s heartbeats have been continuous for an hour: it may declare others dead."""
    await sql.execute(
        store, "UPDATE workers SET up_since = now() - interval '1 hour' WHERE id = $1", r.worker_id
    )


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
    await _up_for_an_hour(store, me)
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
    await _up_for_an_hour(store, me)
    dead = await _dead_worker(store)
    in_call = make_row(owner=dead)
    accepted = make_row(owner=dead)
    await store.insert_notifications([in_call, accepted])
    long_ago = utcnow() - dt.timedelta(seconds=me.sending_grace + 1)
    await store.update_statuses(
        [
            StatusUpdate(id=in_call.id, status=st.SENDING, at=long_ago),
            StatusUpdate(id=accepted.id, status=st.SENDING, at=long_ago, provider_reference="ref"),
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


async def test_after_shutdown_the_next_sweep_claims_the_stopped_process_rows_at_once(
    store: Store,
) -> None:
    rec = Recorder()
    me = await _recovery(store, Recorder())
    row = make_row(owner=me.worker_id)
    await store.insert_notifications([row])
    await me.shutdown()
    assert await sql.fetchrow(store, "SELECT 1 FROM workers WHERE id = $1", me.worker_id) is None
    # No wait for ``dead_after``: a worker that left ``workers`` is not alive.
    other = await _recovery(store, rec, dead_after=3600)
    await other.sweep()
    assert rec.requeued == [row.id]


# -- issue 20, failure 8: a graceful stop never strands a `sending` row -------------------


class WriterStore:
    """The real store behind a group-commit writer the test controls: a status update is
    queued and committed by the writer task when ``flush`` opens, whether or not its caller
    is still waiting (as ``engine.store.group_commit`` does: a cancelled caller's rows are
    in a batch already)."""

    def __init__(self, store: Store, nursery: trio.Nursery) -> None:
        self._store = store
        self._nursery = nursery
        self.queued = trio.Event()
        self.flush = trio.Event()

    async def update_statuses(self, updates: Sequence[StatusUpdate]) -> list[StatusChange]:
        done = trio.Event()
        result: list[StatusChange] = []

        async def write() -> None:
            await self.flush.wait()
            result.extend(await self._store.update_statuses(updates))
            done.set()

        self._nursery.start_soon(write)
        self.queued.set()
        await done.wait()
        return result


async def test_a_sending_mark_committed_after_a_graceful_stop_is_still_sent_once(
    store: Store,
) -> None:
    from engine.actors.provider import ProviderActor
    from tests.actors.fakes import FakeProvider, email, no_changes

    stopping, rec = await _recovery(store, Recorder()), Recorder()
    message = email()
    await store.insert_notifications(
        [
            make_row(
                id=message.notification_id, service_id=message.service_id, owner=stopping.worker_id
            )
        ]
    )
    provider = FakeProvider()
    with trio.fail_after(10):
        async with trio.open_nursery() as store_nursery:
            writer = WriterStore(store, store_nursery)
            actor = ProviderActor(provider, writer, no_changes)
            # The engine's shutdown order (engine.runtime.open_engine): the actors stop while
            # the `sending` mark of a batch sits in the store's writer ...
            async with trio.open_nursery() as actors:
                await actors.start(actor.run)
                await actor.submit(message)
                await writer.queued.wait()
                actors.cancel_scope.cancel()
            await stopping.shutdown()
            # ... and the writer commits the mark only after the process left.
            writer.flush.set()
    assert provider.calls == []  # never handed to the provider by the stopped process
    row = await sql.fetchrow(
        store, "SELECT status FROM notifications WHERE id = $1", message.notification_id
    )
    assert row["status"] == st.SENDING
    other = await _recovery(store, rec)
    assert await other.sweep() == 0  # a fresh mark: within the sending grace
    await sql.execute(
        store,
        "UPDATE notifications SET updated_at = now() - make_interval(secs => $2) WHERE id = $1",
        message.notification_id,
        other.sending_grace + 1,
    )
    await other.sweep()
    assert rec.requeued == [message.notification_id]  # sent once, by the next process
    assert await other.sweep() == 0


async def test_an_unowned_sending_row_is_resent_once_its_mark_is_old(store: Store) -> None:
    # Left by builds that released rows at shutdown: resent once the mark is older than the
    # sending grace (3 x 30 s + the provider's 5 s deadline), as a dead owner's.
    rec = Recorder()
    me = await _recovery(store, rec, dead_after=30)
    fresh, old = make_row(owner=None), make_row(owner=None)
    await store.insert_notifications([fresh, old])
    await store.update_statuses(
        [
            StatusUpdate(id=fresh.id, status=st.SENDING, at=utcnow() - dt.timedelta(seconds=90)),
            StatusUpdate(id=old.id, status=st.SENDING, at=utcnow() - dt.timedelta(seconds=100)),
        ]
    )
    await me.sweep()
    assert rec.requeued == [old.id]


# -- issue 20, failure 6: a bulk job is sent only once the whole job is committed ---------


async def _job(store: Store, status: str, *, created_at: dt.datetime) -> uuid.UUID:
    service_id, job_id = uuid.uuid4(), uuid.uuid4()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'j', 'j')", service_id
    )
    await store.jobs.insert(
        job_id, service_id, template_id=uuid.uuid4(), template_version=1,
        api_key_id=uuid.uuid4(), name="job.csv", count=4, status=status, scheduled_for=None,
        sender_id=None, created_at=created_at,
    )  # fmt: skip
    return job_id


def _job_rows(job_id: uuid.UUID, owner: uuid.UUID | None, n: int = 2) -> list[Any]:
    return [make_row(job_id=job_id, job_row_number=i + 1, owner=owner) for i in range(n)]


async def test_rows_of_a_job_not_yet_sendable_are_never_claimed_and_are_cleaned_up(
    store: Store,
) -> None:
    rec = Recorder()
    me = await _recovery(store, rec, abandoned_job_age=dt.timedelta(hours=1))
    await _up_for_an_hour(store, me)
    dead = await _dead_worker(store)
    # A writer killed between chunks: the job is still `pending` (engine.store.jobs.WRITING),
    # one chunk of its rows committed, owned by the dead process (or unowned, if scheduled).
    crashed = await _job(store, "pending", created_at=utcnow() - dt.timedelta(hours=2))
    writing = await _job(store, "pending", created_at=utcnow())
    await store.insert_notifications(
        _job_rows(crashed, dead) + _job_rows(crashed, None) + _job_rows(writing, dead)
    )
    assert await me.sweep() == 0
    assert rec.requeued == []

    assert await me.discard_abandoned_jobs() == 1
    left = await sql.fetch(store, "SELECT DISTINCT job_id FROM notifications")
    assert [r["job_id"] for r in left] == [writing]
    jobs = await sql.fetch(store, "SELECT id FROM jobs")
    assert [r["id"] for r in jobs] == [writing]

    # Once the job is committed as a whole, its rows are sent like any other.
    await store.jobs.mark_sendable(writing, scheduled=False)
    assert await me.sweep() == 2
    status = await sql.fetchrow(store, "SELECT job_status FROM jobs WHERE id = $1", writing)
    assert status["job_status"] == "finished"


async def test_the_claim_stays_an_index_scan_with_jobs_being_written(store: Store) -> None:
    from engine.store.recovery import _CLAIM_SQL

    dead = await _dead_worker(store)
    job = await _job(store, "pending", created_at=utcnow())
    rows = [make_row(owner=None) for _ in range(3000)] + _job_rows(job, dead, 2000)
    # Most of a real table is final: choosing the rows to claim must not read it.
    rows += [make_row(owner=dead, status=st.DELIVERED) for _ in range(40_000)]
    await store.insert_notifications(rows)
    await sql.execute(store, "ANALYZE notifications")
    await sql.execute(store, "ANALYZE jobs")
    plan = [r[0] for r in await sql.fetch(store, "EXPLAIN " + _CLAIM_SQL, uuid.uuid4(), 30.0, 2000)]
    # The candidates (CTE c, up to the UPDATE's own join; that join is the planner's
    # choice by table size: PK lookups from a few 100,000 rows, as before issue 20).
    start = plan.index("  CTE c")
    end = next(i for i, line in enumerate(plan) if i > start and line.startswith("  ->  "))
    candidates = "\n".join(plan[start:end])
    # The rows are in today's partition (on a fresh database, the first one: migration
    # 0020); the empty partitions ahead may be scanned (nothing to read), this one not.
    assert "Seq Scan on notifications_legacy" not in candidates, candidates
    # notifications_unfinished_idx, as the partition's copy names it.
    assert "notifications_legacy_status_created_at_idx" in candidates, candidates
    # The pending jobs are one hashed set a statement, not a lookup per row. (The wording
    # differs by server version: "NOT (hashed SubPlan 2)" in PostgreSQL 15, "NOT (ANY
    # (job_id = (hashed SubPlan 2).col1))" in 18.)
    jobs_subplan = re.search(r"SubPlan (\d+)\n[^\n]*on jobs", candidates)
    assert jobs_subplan is not None, candidates
    assert f"hashed SubPlan {jobs_subplan[1]}" in candidates, candidates


async def test_a_stop_while_the_database_is_down_is_not_an_error() -> None:
    """The stop's last write cannot reach the database: the engine still stops cleanly (the
    heartbeat ends with it, so other processes take its rows over after ``dead_after``)."""

    class DownRecoveryQueries:
        calls = 0

        async def unregister(self, worker_id: uuid.UUID) -> None:
            self.calls += 1
            raise DatabaseUnavailable("database unreachable")

    class DownStore:
        recovery = DownRecoveryQueries()

    async def requeue(rows: Sequence[Any]) -> int:
        return 0

    async def on_changes(changes: Sequence[Any]) -> None:
        return None

    store = DownStore()
    recovery = Recovery(store, requeue, on_changes)  # type: ignore[arg-type]
    await recovery.shutdown()
    assert store.recovery.calls == 1

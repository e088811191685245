"""Fenced ownership (issue 19), deterministically: the conditional writes, the lease, the
no-false-death rule, and a paused process that comes back to rows another process took.

Real PostgreSQL for the store's rules; the provider is the scripted fake of
``tests.actors.fakes``. A "pause" or an "outage" is written into ``workers`` (heartbeats
made old), so nothing here waits for a real timeout.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import trio

from engine.actors.callbacks import CallbackManager
from engine.actors.ownership import Ownership
from engine.actors.provider import ProviderActor
from engine.actors.recovery import Recovery
from engine.domain import statuses as st
from engine.domain.notification import EmailMessage
from engine.domain.ownership import Lease, lease_times
from engine.domain.timestamps import utcnow
from engine.services import Registry
from engine.store.notifications import StatusChange, StatusUpdate
from engine.store.store import Store
from tests import sql
from tests.actors.fakes import FakeProvider, FakeStore, email, no_changes, wait_until
from tests.store.test_store import make_row

# -- the pure rules ----------------------------------------------------------------------


def test_the_lease_runs_from_before_the_heartbeat_and_ends_well_before_death() -> None:
    times = lease_times(30.0)
    assert times.heartbeat_every == 5.0
    assert times.gap == 10.0
    assert times.lease == 20.0  # a third of dead_after is the margin for a call in flight
    lease = Lease(times.lease)
    assert not lease.valid(0.0)  # nothing before the first registration
    lease.renewed(100.0)  # issued at 100, answered later
    assert lease.valid(119.9)
    assert not lease.valid(120.0)
    lease.renewed(90.0)  # an older heartbeat answering late never moves it back
    assert lease.expires_at() == 120.0
    lease.lost()
    assert not lease.valid(101.0)


# -- the conditional writes --------------------------------------------------------------


async def _registered(store: Store, dead_after: float = 30.0) -> Ownership:
    ownership = Ownership(store.recovery, dead_after=dead_after)
    await ownership.register()
    return ownership


async def test_a_sending_mark_on_a_row_another_owner_holds_changes_nothing(store: Store) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    theirs, mine = make_row(owner=other), make_row(owner=me)
    await store.insert_notifications([theirs, mine])
    now = utcnow()
    changes = await store.update_statuses(
        [StatusUpdate(id=r.id, status=st.SENDING, at=now, owner=me) for r in (theirs, mine)]
    )
    assert [c.id for c in changes] == [mine.id]
    rows = await sql.fetch(store, "SELECT id, status FROM notifications")
    assert {r["id"]: r["status"] for r in rows} == {theirs.id: st.CREATED, mine.id: st.SENDING}


async def test_the_actor_sends_only_the_rows_its_mark_changed(autojump_clock: object) -> None:
    provider, store = FakeProvider(), FakeStore()
    a = ProviderActor(provider, store, no_changes, rng=random.Random(7))  # type: ignore[arg-type]
    owner = uuid.uuid4()
    mine = [_owned(email(i), owner) for i in range(3)]
    taken = [_owned(email(10 + i), owner) for i in range(3)]
    store.taken = {m.notification_id for m in taken}  # another process claimed them
    for m in mine + taken:
        await a.send_channel.send(m)
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        with trio.fail_after(5):
            await wait_until(lambda: len(store.final()) == 3)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert {m.notification_id for m in provider.sent()} == {m.notification_id for m in mine}
    assert a.depth() == 0  # the taken ones are dropped from memory, not retried


class LostFence:
    """A fence whose registration is not the messages' one any more."""

    def __init__(self) -> None:
        self.asked: list[uuid.UUID | None] = []

    async def acting(self, owner: uuid.UUID | None) -> bool:
        self.asked.append(owner)
        return False


async def test_nothing_is_sent_for_a_lost_registration(autojump_clock: object) -> None:
    provider, store, fence = FakeProvider(), FakeStore(), LostFence()
    a = ProviderActor(provider, store, no_changes, ownership=fence)  # type: ignore[arg-type]
    owner = uuid.uuid4()
    await a.send_channel.send(_owned(email(), owner))
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        with trio.fail_after(5):
            await wait_until(lambda: bool(fence.asked))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert fence.asked == [owner]  # asked after the mark, before the call
    assert provider.calls == []


async def test_callback_bookkeeping_of_another_owner_changes_nothing(store: Store) -> None:
    sid = await _service(store)
    await sql.execute(
        store,
        "INSERT INTO callback_queue (service_id, callback_type, notification_id, recipient,"
        " owner) VALUES ($1, 'delivery_status', $2, 'x', $3), ($1, 'delivery_status', $2,"
        " 'x', $3)",
        sid,
        uuid.uuid4(),
        uuid.uuid4(),
    )
    seqs = [r["seq"] for r in await sql.fetch(store, "SELECT seq FROM callback_queue")]
    stale = uuid.uuid4()
    await store.callbacks.settle([(seqs[0], stale)], [(seqs[1], 1, 0.0, stale)])
    await store.callbacks.unclaim(seqs, stale)
    rows = await sql.fetch(store, "SELECT seq, owner, attempts FROM callback_queue ORDER BY seq")
    assert [r["seq"] for r in rows] == seqs  # nothing deleted
    assert all(r["owner"] is not None and r["attempts"] == 0 for r in rows)


async def test_a_callback_claimed_under_a_lost_registration_is_not_posted(store: Store) -> None:
    ownership = await _registered(store)
    manager = CallbackManager(store, Registry(store, None), ownership)  # type: ignore[arg-type]
    owed: Any = type("Owed", (), {"owner": uuid.uuid4()})()  # claimed by an earlier id
    assert not await manager.deliverable(owed)
    owed.owner = ownership.owner
    assert await manager.deliverable(owed)


# -- death: only after dead_after of one's own continuous heartbeats ---------------------


class Recorder:
    def __init__(self) -> None:
        self.requeued: list[uuid.UUID] = []

    async def requeue(self, rows: Sequence[Any]) -> int:
        self.requeued.extend(r["id"] for r in rows)
        return len(rows)

    async def on_changes(self, changes: Sequence[StatusChange]) -> None:
        return None


async def _age(store: Store, ownership: Ownership, *, heartbeat_s: float, up_s: float) -> None:
    """Make ``ownership``'s last heartbeat ``heartbeat_s`` old, its up_since ``up_s`` old."""
    await sql.execute(
        store,
        "UPDATE workers SET heartbeat_at = now() - make_interval(secs => $2),"
        " up_since = now() - make_interval(secs => $3) WHERE id = $1",
        ownership.owner,
        heartbeat_s,
        up_s,
    )


async def test_after_an_outage_nobody_is_declared_dead(store: Store) -> None:
    """Both heartbeats stopped for 60 s (> dead_after 30 s) because the database was down;
    the first process back must not take the other's rows on heartbeats nobody could
    write: its own heartbeat after the gap restarts its ``up_since``."""
    a_rec = Recorder()
    a = Recovery(store, a_rec.requeue, a_rec.on_changes, dead_after=30.0)
    await a.register()
    b = await _registered(store)
    held_by_b = make_row(owner=b.owner)
    await store.insert_notifications([held_by_b])
    for ownership in (a.ownership, b):
        await _age(store, ownership, heartbeat_s=60, up_s=3600)
    assert await a.ownership.renew()  # the database is back: a renews first
    assert await a.sweep() == 0
    assert a_rec.requeued == []
    assert await b.renew()  # b renews within dead_after: still the same registration
    assert b.registrations == 1
    owner = await sql.fetchrow(store, "SELECT owner FROM notifications")
    assert owner["owner"] == b.owner


async def test_a_process_silent_past_dead_after_is_declared_dead_by_one_up_long_enough(
    store: Store,
) -> None:
    a_rec = Recorder()
    a = Recovery(store, a_rec.requeue, a_rec.on_changes, dead_after=30.0)
    await a.register()
    b = await _registered(store)
    row = make_row(owner=b.owner)
    await store.insert_notifications([row])
    await _age(store, b, heartbeat_s=60, up_s=3600)
    assert await a.sweep() == 0  # a itself has been up for less than dead_after
    await _age(store, a.ownership, heartbeat_s=0, up_s=31)
    assert await a.sweep() == 1
    assert a_rec.requeued == [row.id]


async def test_a_paused_process_comes_back_and_sends_nothing_it_lost(store: Store) -> None:
    """The issue's SIGSTOP, in process: b holds a message (owned, marked or not) when it is
    paused past dead_after; a declares it dead and claims the unmarked row at once, the
    marked one once its mark is older than the sending grace (its call's outcome is b's
    to record until then: tests/actors/test_sending_grace.py). b comes back: its lease
    has run out, the renewal finds its registration gone, it registers under a new id, and
    its provider actor sends nothing."""
    a_rec = Recorder()
    a = Recovery(store, a_rec.requeue, a_rec.on_changes, dead_after=30.0)
    await a.register()
    b = await _registered(store)
    queued, marked = make_row(owner=b.owner), make_row(owner=b.owner)
    await store.insert_notifications([queued, marked])
    await store.update_statuses(
        [StatusUpdate(id=marked.id, status=st.SENDING, at=utcnow(), owner=b.owner)]
    )
    # The pause: b's heartbeat is 60 s old (and so is its lease); a has been up an hour.
    await _age(store, b, heartbeat_s=60, up_s=3600)
    await _age(store, a.ownership, heartbeat_s=0, up_s=3600)
    b.lease.lost()  # b's own clock: 60 s since its last heartbeat
    assert await a.sweep() == 1
    assert a_rec.requeued == [queued.id]
    await sql.execute(
        store,
        "UPDATE notifications SET updated_at = now() - make_interval(secs => $2) WHERE id = $1",
        marked.id,
        a.sending_grace + 1,
    )
    assert await a.sweep() == 1
    assert set(a_rec.requeued) == {queued.id, marked.id}

    provider = FakeProvider()
    actor = ProviderActor(provider, store, no_changes, ownership=b)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        nursery.start_soon(b.run)
        for row in (queued, marked):
            await actor.send_channel.send(_stored(row, b.owner))
        with trio.fail_after(10):
            await wait_until(lambda: b.registrations == 2 and actor.depth() == 0)
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    assert provider.calls == []
    rows = await sql.fetch(store, "SELECT owner FROM notifications")
    assert {r["owner"] for r in rows} == {a.worker_id}
    assert b.owner not in {a.worker_id, queued.owner}


# -- helpers -----------------------------------------------------------------------------


def _owned(message: EmailMessage, owner: uuid.UUID) -> EmailMessage:
    return msgspec.structs.replace(message, owner=owner)


def _stored(row: Any, owner: uuid.UUID) -> EmailMessage:
    """The message of a stored row, claimed under ``owner`` (of the row's service, as the
    engine builds it: status writes name the service)."""
    return msgspec.structs.replace(
        email(), notification_id=row.id, service_id=row.service_id, owner=owner
    )


async def _service(store: Store) -> uuid.UUID:
    sid = uuid.uuid4()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'fence', 'fence')", sid
    )
    return sid

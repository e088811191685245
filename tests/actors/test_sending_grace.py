"""A sender frozen in the middle of a provider call (issue 19's residual duplicate): the
call's answer is a fact its sender records even once fenced, and recovery waits the
sending grace (``engine.domain.ownership``) before it resends a reference-less ``sending``
row, so the row is sent once.

Real PostgreSQL and the real provider actor; the provider is a fake whose call is "on the
wire" until the test lets its answer through. The freeze is written into ``workers`` and
into the row's mark time (heartbeat and ``updated_at`` made old), so nothing here waits for
a real timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import trio

from engine.actors.ownership import Ownership
from engine.actors.provider import ProviderActor
from engine.actors.recovery import Recovery
from engine.domain import statuses as st
from engine.domain.notification import Outbound
from engine.domain.timestamps import utcnow
from engine.providers.base import SendResult
from engine.store.notifications import StatusChange, StatusUpdate
from engine.store.store import Store
from tests import sql
from tests.actors.fakes import FakeProvider, email, no_changes, sample, wait_until
from tests.store.test_store import make_row

DEAD_AFTER = 30.0
GRACE = 95.0  # with Recovery's default provider deadline, 5 s


class Recorder:
    def __init__(self) -> None:
        self.requeued: list[uuid.UUID] = []

    async def requeue(self, rows: Sequence[Any]) -> int:
        self.requeued.extend(r["id"] for r in rows)
        return len(rows)

    async def on_changes(self, changes: Sequence[StatusChange]) -> None:
        return None


class CallOnTheWire(FakeProvider):
    """The provider has the message once the call starts (``on_wire``); the answer reaches
    the sender only when ``answer`` is set: the sender was frozen meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.on_wire = trio.Event()
        self.answer = trio.Event()

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]:
        self.on_wire.set()
        await self.answer.wait()
        return await super().send_batch(messages)


class Outcomes:
    """The provider actor's ``on_changes``: ``recorded`` is set by the call after the
    answer, whether or not the outcome changed the row (the mark's call comes before)."""

    def __init__(self, provider: CallOnTheWire) -> None:
        self._provider = provider
        self.recorded = trio.Event()

    async def __call__(self, changes: Sequence[StatusChange]) -> None:
        if self._provider.answer.is_set():
            self.recorded.set()


async def _rig(store: Store) -> tuple[Recovery, Recorder, Ownership]:
    """``a`` up for an hour (it may judge), ``b`` registered (the sender)."""
    rec = Recorder()
    a = Recovery(store, rec.requeue, rec.on_changes, dead_after=DEAD_AFTER)
    await a.register()
    b = Ownership(store.recovery, dead_after=DEAD_AFTER)
    await b.register()
    await _age(store, a.ownership.owner, heartbeat_s=0, up_s=3600)
    return a, rec, b


async def _age(store: Store, owner: uuid.UUID, *, heartbeat_s: float, up_s: float) -> None:
    await sql.execute(
        store,
        "UPDATE workers SET heartbeat_at = now() - make_interval(secs => $2),"
        " up_since = now() - make_interval(secs => $3) WHERE id = $1",
        owner,
        heartbeat_s,
        up_s,
    )


async def _mark_age(store: Store, notification_id: uuid.UUID, seconds: float) -> None:
    await sql.execute(
        store,
        "UPDATE notifications SET updated_at = now() - make_interval(secs => $2) WHERE id = $1",
        notification_id,
        seconds,
    )


def _stored(row: Any, owner: uuid.UUID) -> Outbound:
    """The message of a stored row, claimed under ``owner`` (of the row's service, as the
    engine builds it: status writes name the service)."""
    return msgspec.structs.replace(
        email(), notification_id=row.id, service_id=row.service_id, owner=owner
    )


async def _row(store: Store, notification_id: uuid.UUID) -> Any:
    return await sql.fetchrow(
        store,
        "SELECT status, owner, provider_reference FROM notifications WHERE id = $1",
        notification_id,
    )


def test_the_grace_is_three_dead_afters_plus_the_call_deadline() -> None:
    from engine.domain.ownership import sending_grace  # here: the other tests run on main

    assert sending_grace(30.0, 5.0) == 95.0  # the 60 s pause, with room to spare
    assert sending_grace(3.0, 5.0) == 14.0  # bench/faults.py: its freezes last 8 s


async def test_a_frozen_senders_row_is_not_resent_within_the_grace(store: Store) -> None:
    """b freezes with a call on the wire for longer than the dead-after: a declares it dead
    and takes its unsent row over at once, but not the row of the call. b thaws, reads the
    answer and records the reference: the row is never resent."""
    a, rec, b = await _rig(store)
    in_call, unsent = make_row(owner=b.owner), make_row(owner=b.owner)
    await store.insert_notifications([in_call, unsent])
    provider = CallOnTheWire()
    outcomes = Outcomes(provider)
    actor = ProviderActor(provider, store, outcomes, ownership=b)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await actor.submit(_stored(in_call, b.owner))
        with trio.fail_after(10):
            await provider.on_wire.wait()
        # Frozen for 60 s (> dead_after, < the grace), the call's mark as old.
        await _age(store, b.owner, heartbeat_s=60, up_s=3600)
        await _mark_age(store, in_call.id, 60)
        assert await a.sweep() == 1
        assert rec.requeued == [unsent.id]  # the created row at once, as before
        provider.answer.set()  # b thaws: the answer waited on its socket
        with trio.fail_after(10):
            await outcomes.recorded.wait()
        nursery.cancel_scope.cancel()
    row = await _row(store, in_call.id)
    assert (row["status"], row["provider_reference"]) == (st.SENDING, f"ref-{in_call.id}")
    await _mark_age(store, in_call.id, 3600)
    assert await a.sweep() == 0  # a reference: never resent, however old
    assert len(provider.sent()) == 1


async def test_a_fenced_senders_late_reference_is_recorded_and_the_row_not_resent(
    store: Store,
) -> None:
    """b stays frozen past the grace: a claims the row of the call. b thaws and records
    the provider's reference although the row is a's now (a fact, not a claim of work);
    a's provider actor then marks nothing and sends nothing."""
    a, rec, b = await _rig(store)
    in_call = make_row(owner=b.owner)
    await store.insert_notifications([in_call])
    provider = CallOnTheWire()
    outcomes = Outcomes(provider)
    b_actor = ProviderActor(provider, store, outcomes, ownership=b)
    a_provider = FakeProvider("a")
    a_actor = ProviderActor(a_provider, store, no_changes, ownership=a.ownership)
    dropped = sample("notify_ownership_dropped_total", kind="send")
    async with trio.open_nursery() as nursery:
        await nursery.start(b_actor.run)
        await nursery.start(a_actor.run)
        await b_actor.submit(_stored(in_call, b.owner))
        with trio.fail_after(10):
            await provider.on_wire.wait()
        await _age(store, b.owner, heartbeat_s=600, up_s=3600)
        await _mark_age(store, in_call.id, GRACE + 5)
        assert await a.sweep() == 1
        assert rec.requeued == [in_call.id]
        provider.answer.set()
        with trio.fail_after(10):
            await outcomes.recorded.wait()
        row = await _row(store, in_call.id)
        assert row["provider_reference"] == f"ref-{in_call.id}"
        assert row["owner"] == a.worker_id  # recorded, not taken back
        # a sends what it claimed: its mark changes nothing, the message is dropped.
        await a_actor.submit(_stored(in_call, a.worker_id))
        with trio.fail_after(10):
            await wait_until(
                lambda: sample("notify_ownership_dropped_total", kind="send") > dropped
            )
        nursery.cancel_scope.cancel()
    assert a_provider.calls == []
    assert len(provider.sent()) == 1


async def test_a_row_the_provider_accepted_is_never_marked_sending_again(store: Store) -> None:
    owner = uuid.uuid4()
    accepted = make_row(owner=owner)
    await store.insert_notifications([accepted])
    now = utcnow()
    ref = StatusUpdate(
        id=accepted.id, status=st.SENDING, at=now, provider="ses", provider_reference="r1"
    )
    assert len(await store.update_statuses([ref])) == 1
    for mark_owner in (owner, None):
        mark = StatusUpdate(id=accepted.id, status=st.SENDING, at=now, owner=mark_owner)
        assert await store.update_statuses([mark]) == []

"""ReceiptsActor on a real PostgreSQL: a receipt that beats the commit of its reference is
kept in the database before it is acknowledged, so a process that dies after the
acknowledgement (the SNS 200, the SQS delete) loses nothing; kept receipts expire."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import trio

from engine.actors.receipts import ReceiptsActor
from engine.domain import statuses as st
from engine.domain.timestamps import utcnow
from engine.providers.base import Receipt
from engine.store.notifications import StatusChange
from engine.store.store import Store
from tests import sql
from tests.store.test_store import make_row


def actor_for(store: Store, seen: list[StatusChange]) -> ReceiptsActor:
    async def on_changes(changes: Sequence[StatusChange]) -> None:
        seen.extend(changes)

    async def on_complaints(receipts: Sequence[Receipt]) -> None:
        raise AssertionError("no complaint expected")

    return ReceiptsActor(store, on_changes, on_complaints)


def receipt(reference: str, status: str) -> Receipt:
    return Receipt(reference=reference, status=status, at=utcnow(), provider="ses")


async def status_of(store: Store, notification_id: uuid.UUID) -> str:
    row = await sql.fetchrow(
        store, "SELECT status FROM notifications WHERE id = $1", notification_id
    )
    return str(row["status"])


async def wait_delivered(store: Store, notification_id: uuid.UUID) -> None:
    for _ in range(200):
        if await status_of(store, notification_id) == "delivered":
            return
        await trio.sleep(0.05)
    raise AssertionError("the kept receipt was never applied")


async def test_a_receipt_acknowledged_before_its_reference_survives_a_crash(
    store: Store,
) -> None:
    row = make_row(status=st.SENDING)
    await store.insert_notifications([row])
    first_seen: list[StatusChange] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            first = actor_for(store, first_seen)
            await nursery.start(first.run)
            # SNS gets its 200 (SQS its delete) once submit returns: the receipt is ours.
            await first.submit(
                [receipt("ses-early", st.PENDING), receipt("ses-early", "delivered")]
            )
            # kill -9: the process and everything it held in memory are gone.
            nursery.cancel_scope.cancel()
    assert first_seen == []
    # The provider actor's status write (of another process) commits the reference now.
    await sql.execute(
        store, "UPDATE notifications SET provider_reference = 'ses-early' WHERE id = $1", row.id
    )
    seen: list[StatusChange] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(actor_for(store, seen).run)
            await wait_delivered(store, row.id)
            nursery.cancel_scope.cancel()
    # Applied in arrival order, once each; the status changes reached callbacks/metrics.
    assert [(c.id, c.previous_status, c.status) for c in seen] == [
        (row.id, st.SENDING, st.PENDING),
        (row.id, st.PENDING, "delivered"),
    ]
    assert await store.unmatched_receipts.count() == 0


async def test_kept_receipts_are_applied_once_their_reference_is_committed(
    store: Store,
) -> None:
    """The same process: the sweep runs soon after it kept a receipt (no restart)."""
    row = make_row(status=st.SENDING)
    await store.insert_notifications([row])
    seen: list[StatusChange] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            actor = actor_for(store, seen)
            await nursery.start(actor.run)
            await trio.sleep(0.1)  # past the start-up sweep
            await actor.send_channel.send(receipt("ses-late", "delivered"))
            for _ in range(200):  # the actor's batch reached the store
                if await store.unmatched_receipts.count():
                    break
                await trio.sleep(0.02)
            await sql.execute(
                store,
                "UPDATE notifications SET provider_reference = 'ses-late' WHERE id = $1",
                row.id,
            )
            await wait_delivered(store, row.id)
            nursery.cancel_scope.cancel()
    assert [c.status for c in seen] == ["delivered"]


async def test_kept_receipts_expire_after_72_hours_and_are_counted(store: Store) -> None:
    seen: list[StatusChange] = []
    actor = actor_for(store, seen)
    await actor.submit([receipt("never-1", "delivered"), receipt("never-2", "delivered")])
    assert await store.unmatched_receipts.count() == 2
    await sql.execute(
        store,
        "UPDATE unmatched_receipts SET received_at = now() - interval '73 hours'"
        " WHERE reference = 'never-1'",
    )
    assert await actor.sweep() == 0
    assert actor.expired == 1
    rows = await sql.fetch(store, "SELECT reference FROM unmatched_receipts")
    assert [r["reference"] for r in rows] == ["never-2"]

"""Store: group commit, guarded status transitions, receipts by provider reference."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import asyncpg
import msgspec
import pytest
import trio
from prometheus_client import REGISTRY

from engine.domain import statuses as st
from engine.domain.notification import NotificationRow, new_ids
from engine.domain.timestamps import utcnow
from engine.metrics import STORE_BATCH_ROWS
from engine.observability import observe_changes
from engine.providers.base import Receipt
from engine.store.group_commit import ROW_ERRORS
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql


def make_row(**overrides: object) -> NotificationRow:
    values: dict[str, object] = dict(  # noqa: C408 - reads as the row's columns
        id=uuid.uuid4(),
        service_id=uuid.uuid4(),
        template_id=uuid.uuid4(),
        template_version=1,
        api_key_id=None,
        key_type="normal",
        notification_type="email",
        recipient="someone@example.com",
        status=st.CREATED,
        client_reference=None,
        personalisation=None,
        subject="s",
        body="b",
        reply_to_text=None,
        process_type="normal",
        billable_units=1,
        job_id=None,
        job_row_number=None,
        scheduled_for=None,
        unsubscribe_url=None,
        created_at=utcnow(),
    )
    values.update(overrides)
    return NotificationRow(**values)  # type: ignore[arg-type]


async def test_concurrent_inserts_are_committed_in_shared_batches(store: Store) -> None:
    before = STORE_BATCH_ROWS.collect()[0].samples
    count_before = next(
        (s.value for s in before if s.name.endswith("_count") and s.labels.get("kind") == "insert"),
        0,
    )
    rows = [make_row() for _ in range(200)]
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for row in rows:
                nursery.start_soon(store.insert_notifications, [row])
    stored = await sql.fetchrow(store, "SELECT count(*) AS n FROM notifications")
    assert stored["n"] == 200
    after = STORE_BATCH_ROWS.collect()[0].samples
    count_after = next(
        s.value for s in after if s.name.endswith("_count") and s.labels.get("kind") == "insert"
    )
    # 200 concurrent callers, far fewer commits: that is the point of group commit.
    assert 1 <= count_after - count_before <= 20


async def test_insert_returns_only_after_the_row_is_visible(store: Store) -> None:
    row = make_row()
    await store.insert_notifications([row])
    found = await sql.fetchrow(store, "SELECT status FROM notifications WHERE id = $1", row.id)
    assert found["status"] == st.CREATED


async def test_a_failed_batch_fails_its_callers(store: Store) -> None:
    row = make_row()
    await store.insert_notifications([row])
    with pytest.raises(Exception, match="duplicate key"):
        await store.insert_notifications([row])  # same primary key


@pytest.mark.parametrize(
    "bad",
    [
        {"client_reference": "ref\x00"},  # text: SQLSTATE 22021
        # Personalisation is sealed (a valid JSON string whatever it holds), so the other
        # refusal the database still makes of a row is a constraint: NOT NULL, SQLSTATE 23502.
        {"key_type": None},
    ],
    ids=["text", "not-null"],
)
async def test_a_row_the_database_refuses_fails_only_its_own_request(
    store: Store, bad: dict[str, object]
) -> None:
    """Issue 20, item 1: a NUL submitted straight to the store (validation bypassed) fails
    its own request; the other requests of its group-commit batch commit."""
    services = [uuid.uuid4() for _ in range(8)]
    requests = [[make_row(service_id=s), make_row(service_id=s)] for s in services]
    requests[5] = [make_row(service_id=services[5]), make_row(service_id=services[5], **bad)]
    outcomes: dict[int, BaseException | None] = {}

    async def one(i: int) -> None:
        try:
            await store.insert_notifications(requests[i])
            outcomes[i] = None
        except Exception as exc:
            outcomes[i] = exc

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for i in range(len(requests)):
                nursery.start_soon(one, i)
    assert isinstance(outcomes.pop(5), ROW_ERRORS)
    assert outcomes == dict.fromkeys(outcomes), outcomes  # every other request committed
    stored = await sql.fetch(store, "SELECT service_id FROM notifications")
    assert sorted(r["service_id"] for r in stored) == sorted(
        s for i, s in enumerate(services) if i != 5 for _ in range(2)
    )


async def test_status_updates_follow_allowed_transitions(store: Store) -> None:
    row = make_row()
    await store.insert_notifications([row])
    now = utcnow()
    changes = await store.update_statuses([StatusUpdate(id=row.id, status=st.DELIVERED, at=now)])
    assert changes == []  # created -> delivered is not a transition
    changes = await store.update_statuses(
        [
            StatusUpdate(id=row.id, status=st.SENDING, at=now),
            StatusUpdate(
                id=row.id, status=st.SENDING, at=now, provider="p", provider_reference="r1"
            ),
            StatusUpdate(id=row.id, status=st.DELIVERED, at=now + dt.timedelta(seconds=1)),
        ]
    )
    assert [(c.previous_status, c.status) for c in changes] == [
        (st.CREATED, st.SENDING),
        (st.SENDING, st.SENDING),
        (st.SENDING, st.DELIVERED),
    ]
    final = await sql.fetchrow(
        store, "SELECT status, provider_reference, sent_at FROM notifications WHERE id = $1", row.id
    )
    assert final["status"] == st.DELIVERED
    assert final["provider_reference"] == "r1"
    assert final["sent_at"] == now


async def test_a_status_change_says_what_changed_and_how_long_it_took(store: Store) -> None:
    row = make_row(process_type="priority")
    await store.insert_notifications([row])
    at = row.created_at + dt.timedelta(seconds=1.5)
    [change] = await store.update_statuses(
        [StatusUpdate(id=row.id, status=st.SENDING, at=at, provider_response="queued")]
    )
    assert change.id == row.id
    assert (change.status, change.previous_status) == (st.SENDING, st.CREATED)
    assert (change.notification_type, change.process_type) == ("email", "priority")
    assert change.age_s == pytest.approx(1.5)  # created -> handed over (sent_at)
    later = at + dt.timedelta(seconds=2)
    [delivered] = await store.update_statuses(
        [StatusUpdate(id=row.id, status=st.DELIVERED, at=later)]
    )
    assert (delivered.status, delivered.previous_status) == (st.DELIVERED, st.SENDING)
    assert delivered.age_s == pytest.approx(3.5)  # created -> delivered (updated_at)


def _histogram(name: str, lane: str) -> tuple[float, float]:
    labels = {"notification_type": "email", "lane": lane}
    count = REGISTRY.get_sample_value(f"{name}_count", labels) or 0.0
    return count, REGISTRY.get_sample_value(f"{name}_sum", labels) or 0.0


async def test_status_changes_feed_the_pipeline_latency_metrics(store: Store) -> None:
    row = make_row(process_type="bulk")
    await store.insert_notifications([row])
    sent0 = _histogram("notify_created_to_sent_seconds", "bulk")
    delivered0 = _histogram("notify_created_to_delivered_seconds", "bulk")
    at = row.created_at + dt.timedelta(seconds=2)
    observe_changes(
        await store.update_statuses([StatusUpdate(id=row.id, status=st.SENDING, at=at)])
    )
    later = at + dt.timedelta(seconds=3)
    observe_changes(
        await store.update_statuses([StatusUpdate(id=row.id, status=st.DELIVERED, at=later)])
    )
    sent = _histogram("notify_created_to_sent_seconds", "bulk")
    delivered = _histogram("notify_created_to_delivered_seconds", "bulk")
    assert sent[0] - sent0[0] == 1
    assert sent[1] - sent0[1] == pytest.approx(2.0)
    assert delivered[0] - delivered0[0] == 1
    assert delivered[1] - delivered0[1] == pytest.approx(5.0)


async def test_pending_then_permanent_failure_becomes_temporary(store: Store) -> None:
    row = make_row(notification_type="sms", recipient="+16135550123")
    await store.insert_notifications([row])
    now = utcnow()
    await store.update_statuses(
        [
            StatusUpdate(id=row.id, status=st.SENT, at=now),
            StatusUpdate(id=row.id, status=st.PENDING, at=now),
        ]
    )
    changes = await store.update_statuses(
        [StatusUpdate(id=row.id, status=st.PERMANENT_FAILURE, at=now)]
    )
    assert [c.status for c in changes] == [st.TEMPORARY_FAILURE]


async def test_receipts_match_by_provider_reference(store: Store) -> None:
    row = make_row()
    await store.insert_notifications([row])
    await store.update_statuses(
        [StatusUpdate(id=row.id, status=st.SENDING, at=utcnow(), provider_reference="ref-1")]
    )
    receipts = [
        Receipt(reference="ref-1", status=st.DELIVERED, at=utcnow(), provider="p"),
        Receipt(reference="unknown", status=st.DELIVERED, at=utcnow(), provider="p"),
    ]
    matched, changes = await store.apply_receipts(receipts)
    assert matched == [True, False]
    assert [(c.id, c.status) for c in changes] == [(row.id, st.DELIVERED)]
    # The same receipt again matches but changes nothing.
    matched, changes = await store.apply_receipts(receipts[:1])
    assert matched == [True]
    assert changes == []


async def test_a_background_driver_error_is_logged_and_the_store_keeps_working(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # What asyncio reports when a connection attempt is abandoned mid-handshake, on the
    # driver's own loop: logged, not raised into the engine.
    loop = sql.pipe(store).db.thread.loop
    context = {
        "message": "Future exception was never retrieved",
        "exception": ConnectionError("unexpected connection_lost() call"),
    }
    loop.call_soon_threadsafe(loop.call_exception_handler, context)
    await trio.sleep(0.05)
    row = make_row()
    await store.insert_notifications([row])
    assert await sql.fetchrow(store, "SELECT id FROM notifications WHERE id = $1", row.id)
    [record] = [r for r in caplog.records if r.name == "engine.store"]
    assert record.levelname == "ERROR"
    assert "Future exception was never retrieved" in record.getMessage()


async def test_keyed_lookups_use_their_index_before_the_table_has_statistics(
    store: Store,
) -> None:
    # A fresh table that (auto)analyze has not seen looks tiny to the planner, which then
    # scans it for every receipt batch; the keyed sessions must not depend on that.
    await store.insert_notifications([make_row() for _ in range(3)])
    lookup = "SELECT id FROM notifications WHERE provider_reference = ANY($1::text[])"
    keyed = "\n".join(r[0] for r in await sql.fetch(store, f"EXPLAIN {lookup}", ["r"], keyed=True))
    assert "Index" in keyed
    assert "Seq Scan" not in keyed
    [settings] = await sql.fetch(store, "SELECT current_setting('jit') AS jit", keyed=True)
    assert settings["jit"] == "off"  # the scan penalty must not buy a JIT compilation


async def test_a_runaway_statement_is_cancelled_by_the_server(
    aio_loop: None, database_url: str
) -> None:

    async with Store.open(database_url, pool_size=2, writers=1, statement_timeout_s=0.2) as s:
        with trio.fail_after(10):
            for keyed in (False, True):
                with pytest.raises(asyncpg.exceptions.QueryCanceledError):
                    await sql.fetch(s, "SELECT pg_sleep(5)", keyed=keyed)
                [row] = await sql.fetch(s, "SELECT 41 + 1 AS answer", keyed=keyed)
                assert row["answer"] == 42  # the session is usable afterwards


@pytest.mark.parametrize("count", [3, 150], ids=["one-statement", "copy"])
async def test_both_insert_paths_store_every_column(store: Store, count: int) -> None:
    job = uuid.uuid4()
    rows = [
        make_row(
            api_key_id=uuid.uuid4(),
            client_reference=f"ref-{i}",
            personalisation='{"name": "Zoë", "n": ' + str(i) + "}",
            reply_to_text="help@example.org",
            process_type="bulk",
            billable_units=2,
            job_id=job,
            job_row_number=i + 1,
            scheduled_for=utcnow() + dt.timedelta(hours=1),
            unsubscribe_url="https://example.org/u",
            owner=uuid.uuid4(),
        )
        for i in range(count)
    ]
    await store.insert_notifications(rows)
    stored = await sql.opened(
        store, "SELECT * FROM notifications WHERE job_id = $1 ORDER BY job_row_number", job
    )
    assert len(stored) == count
    for row, found in zip(rows, stored, strict=True):
        for column, value in msgspec.structs.asdict(row).items():
            if column == "personalisation":
                assert json.loads(found[column]) == json.loads(value)
            else:
                assert found[column] == value, column


async def test_a_receipt_for_an_older_notification_is_matched(store: Store) -> None:
    # A receipt names no day: the lookup reads every partition (a lookup bounded to the
    # recent days was tried, and its kept plan read the primary key by time instead of
    # the reference index: README, "Results", thirteenth session).
    old, new = utcnow() - dt.timedelta(days=5), utcnow()
    rows = [make_row(id=new_ids(1, at)[0], created_at=at) for at in (old, new)]
    await store.insert_notifications(rows)
    await store.update_statuses([
        StatusUpdate(id=r.id, status=st.SENDING, at=new, provider_reference=f"ref-{i}")
        for i, r in enumerate(rows)
    ])  # fmt: skip
    receipts = [
        Receipt(reference=ref, status=st.DELIVERED, at=new, provider="p")
        for ref in ("ref-0", "ref-1", "ref-none")
    ]
    matched, changes = await store.apply_receipts(receipts)
    assert matched == [True, True, False]
    assert sorted((c.id, c.status) for c in changes) == sorted((r.id, st.DELIVERED) for r in rows)

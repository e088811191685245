"""Retention (issue 21): past its service's period a notification goes from every table
that holds it, counted first in ``notification_stats``; each channel keeps its own period;
two purges at once delete and count each row once."""

from __future__ import annotations

import datetime as dt
import uuid

import trio

from engine.domain import retention
from engine.domain.timestamps import utcnow
from engine.store.retention import _PURGE_SQL
from engine.store.store import Store
from tests import sql
from tests.store.test_store import make_row

TODAY = dt.date(2026, 12, 6)
NOON = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)


async def _service(store: Store, **periods: int) -> uuid.UUID:
    sid = uuid.uuid4()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'r', 'r')", sid
    )
    for channel, days in periods.items():
        await store.retention.set_period(sid, channel, days)
    return sid


def _days_ago(days: float) -> dt.datetime:
    return NOON - dt.timedelta(days=days)


async def _ids(store: Store, table: str, column: str = "id") -> set[uuid.UUID]:
    return {r[column] for r in await sql.fetch(store, f"SELECT {column} FROM {table}")}


async def _stats_total(store: Store) -> int:
    row = await sql.fetchrow(
        store, "SELECT coalesce(sum(notifications), 0) AS n FROM notification_stats"
    )
    return int(row["n"])


def test_the_cutoff_keeps_whole_days() -> None:
    assert retention.cutoff(TODAY, 7) == dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    assert retention.check_days(3) is None
    assert retention.check_days(90) is None
    assert retention.check_days(2) == "days_of_retention must be between 3 and 90, not 2"
    assert retention.check_days(91) is not None


async def test_a_notification_past_retention_goes_from_every_table_and_is_counted(
    store: Store,
) -> None:
    sid = await _service(store)  # the default: 7 days
    old = make_row(service_id=sid, created_at=_days_ago(8), status="delivered", billable_units=2)
    kept = make_row(service_id=sid, created_at=_days_ago(6))
    await store.insert_notifications([old, kept])
    for row in (old, kept):
        await sql.execute(
            store,
            "INSERT INTO documents (id, service_id, notification_id, personalisation_key,"
            " mime_type, sending_method, content, expires_at)"
            " VALUES ($1, $2, $3, 'f', 'text/plain', 'link', 'x', now() + interval '1 day')",
            uuid.uuid4(), sid, row.id,
        )  # fmt: skip
        await sql.execute(
            store,
            "INSERT INTO callback_queue (service_id, callback_type, notification_id, recipient)"
            " VALUES ($1, 'delivery_status', $2, 'someone@example.com')",
            sid, row.id,
        )  # fmt: skip

    assert await store.retention.purge_expired(TODAY) == 1

    assert await _ids(store, "notifications") == {kept.id}
    assert await _ids(store, "documents", "notification_id") == {kept.id}
    assert await _ids(store, "callback_queue", "notification_id") == {kept.id}
    [stat] = await sql.fetch(store, "SELECT * FROM notification_stats")
    assert (stat["service_id"], stat["day"], stat["template_id"]) == (
        sid,
        dt.date(2026, 11, 28),
        old.template_id,
    )
    assert (stat["notification_type"], stat["key_type"], stat["status"]) == (
        "email",
        "normal",
        "delivered",
    )
    assert (stat["notifications"], stat["billable_units"]) == (1, 2)
    assert await store.retention.purge_expired(TODAY) == 0  # nothing is counted twice


async def test_each_channel_keeps_its_own_period(store: Store) -> None:
    sid = await _service(store, email=3, sms=30)
    email_gone = make_row(service_id=sid, created_at=_days_ago(4))
    email_kept = make_row(service_id=sid, created_at=_days_ago(2))
    sms_kept = make_row(service_id=sid, notification_type="sms", recipient="+16135550123",
                        subject=None, created_at=_days_ago(29))  # fmt: skip
    sms_gone = make_row(service_id=sid, notification_type="sms", recipient="+16135550123",
                        subject=None, created_at=_days_ago(31))  # fmt: skip
    await store.insert_notifications([email_gone, email_kept, sms_kept, sms_gone])
    assert await store.retention.periods(sid) == {"email": 3, "sms": 30}

    assert await store.retention.purge_expired(TODAY) == 2
    assert await _ids(store, "notifications") == {email_kept.id, sms_kept.id}


async def test_two_purges_at_once_delete_and_count_each_row_once(store: Store) -> None:
    sids = [await _service(store) for _ in range(3)]
    rows = [make_row(service_id=sids[i % 3], created_at=_days_ago(10 + i % 5)) for i in range(1500)]
    await store.insert_notifications(rows)
    results: list[int] = []

    async def purge() -> None:
        results.append(await store.retention.purge_expired(TODAY, batch=100))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(purge)
        nursery.start_soon(purge)
    assert sum(results) == 1500
    assert min(results) > 0  # both really ran
    assert await _ids(store, "notifications") == set()
    assert await _stats_total(store) == 1500


async def test_usage_is_the_same_before_and_after_the_purge(store: Store) -> None:
    sid = await _service(store)
    rows = [
        make_row(service_id=sid, created_at=utcnow() - dt.timedelta(days=d)) for d in (1, 9, 9, 20)
    ]
    rows.append(
        make_row(service_id=sid, key_type="test", created_at=utcnow() - dt.timedelta(days=9))
    )
    await store.insert_notifications(rows)
    today = utcnow().date()
    start = today - dt.timedelta(days=30)

    def figures(found: list) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
        return [(r["day"], r["notification_type"], r["status"], r["notifications"]) for r in found]

    before = figures(await store.retention.usage(sid, start, today))
    assert sum(f[3] for f in before) == 4  # the test key's message is not usage
    assert await store.retention.purge_expired(today) == 4
    assert figures(await store.retention.usage(sid, start, today)) == before


async def test_the_purge_finds_its_rows_through_an_index(store: Store) -> None:
    sids = [uuid.uuid4() for _ in range(50)]
    rows = [make_row(service_id=sids[i % 50], created_at=_days_ago(i % 20)) for i in range(5000)]
    await store.insert_notifications(rows)
    await sql.execute(store, "ANALYZE notifications")
    plan = await sql.fetch(store, "EXPLAIN " + _PURGE_SQL, sids[0], "email", NOON, 5000)
    text = "\n".join(r[0] for r in plan)
    doomed = text.split("CTE doomed")[1].split("CTE gone")[0]
    assert "Seq Scan on notifications" not in doomed, text
    # The partitions' copies of notifications_list_idx (named after their columns).
    assert "service_id_key_type_created_at_idx" in doomed, text
    assert "created_at <" in doomed.split("Index Cond:")[1], text

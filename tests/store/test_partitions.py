"""The time-partitioned notifications table (issue 21, migration 0020): made from a
populated table without losing a row, partitions made ahead and dropped past every
retention (counted first, documents and callbacks with them), by-id statements reading
one partition, and two housekeepers at once dropping and counting each partition once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import trio
import trio_asyncio

from engine.domain import notification as nt
from engine.domain.timestamps import utcnow
from engine.store.dsn import with_database
from engine.store.migrate import load_migrations
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql
from tests.store.test_store import make_row

TODAY = utcnow().date()


def _at(days: int, hour: int = 12) -> dt.datetime:
    """Noon (or ``hour``) of ``days`` after today, UTC."""
    day = TODAY + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def _row(created_at: dt.datetime, **overrides: object) -> nt.NotificationRow:
    return make_row(id=nt.new_ids(1, created_at)[0], created_at=created_at, **overrides)


@pytest.fixture
async def own_store(aio_loop: None, database_url: str) -> AsyncIterator[Store]:
    """A store on a database of its own: these tests drop partitions (the legacy one
    too), which the shared test database's other tests need."""
    name = f"notify_part_{uuid.uuid4().hex[:10]}"
    await _admin(database_url, f"CREATE DATABASE {name}")
    try:
        async with Store.open(with_database(database_url, name)) as store:
            await store.migrate()
            async with trio.open_nursery() as nursery:
                await nursery.start(store.run)
                yield store
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await _admin(database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _service(store: Store, **periods: int) -> uuid.UUID:
    sid = uuid.uuid4()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'p', 'p')", sid
    )
    for channel, days in periods.items():
        await store.retention.set_period(sid, channel, days)
    return sid


async def _partition_of(store: Store, notification_id: uuid.UUID) -> str:
    row = await sql.fetchrow(
        store, "SELECT tableoid::regclass::text AS p FROM notifications WHERE id = $1",
        notification_id,
    )  # fmt: skip
    return str(row["p"])


async def test_partitions_are_made_ahead_and_rows_land_in_their_day(own_store: Store) -> None:
    store = own_store
    names = await store.partitions.names()
    assert names[0] == "notifications_legacy"
    ahead = TODAY + dt.timedelta(days=7)
    assert f"notifications_p{ahead:%Y%m%d}" in names
    row = _row(_at(3))
    await store.insert_notifications([row])
    assert await _partition_of(store, row.id) == f"notifications_p{TODAY + dt.timedelta(3):%Y%m%d}"
    # Made ahead once: a second run makes nothing, a later day makes the missing ones.
    assert await store.partitions.create_ahead(TODAY) == 0
    assert await store.partitions.create_ahead(TODAY + dt.timedelta(days=2)) == 2


async def _layout(store: Store, partition: str) -> tuple[list[str], str]:
    """A partition's columns in their physical order, and its storage options."""
    columns = await sql.fetch(
        store, "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum", partition,
    )  # fmt: skip
    options = await sql.fetchrow(
        store, "SELECT coalesce(array_to_string(reloptions, ','), '') AS o FROM pg_class"
        " WHERE oid = $1::regclass", partition,
    )  # fmt: skip
    return [c["attname"] for c in columns], options["o"]


STATUS_COLUMNS = {"status", "owner", "provider", "provider_reference", "provider_response",
                  "feedback_type", "feedback_subtype", "sent_at", "updated_at"}  # fmt: skip


async def test_partitions_keep_what_status_writes_change_at_the_end_of_the_row(
    own_store: Store,
) -> None:
    # Migration 0035: a status write's WAL is the tail of the row from its first changed
    # column (a new version on the same page), so every empty partition (a new database's
    # legacy one, the days ahead) is remade, and every day made later is made, with the
    # columns written once first and fillfactor 60 (room for the new version on its page).
    store = own_store
    await store.partitions.create_ahead(TODAY + dt.timedelta(days=3))
    names = await store.partitions.names()
    assert len(names) >= 10
    for name in names:
        columns, options = await _layout(store, name)
        tail = columns[-len(STATUS_COLUMNS) :]
        assert set(tail) == STATUS_COLUMNS, (name, columns)
        assert columns.index("status") > columns.index("body") > columns.index("recipient")
        assert options == "fillfactor=60", name
    # Rows go through the parent's column order unchanged, and status writes still land.
    sid = await _service(store)
    row = _row(_at(1), service_id=sid)
    await store.insert_notifications([row])
    changes = await store.update_statuses(
        [StatusUpdate(id=row.id, service_id=sid, status="sending", at=utcnow(), provider="ses")]
    )
    assert [c.id for c in changes] == [row.id]
    got = await store.notifications.get(sid, row.id)
    assert got is not None
    assert (got["status"], got["body"], got["recipient"]) == ("sending", row.body, row.recipient)


async def test_a_by_id_read_and_a_status_write_touch_one_partition(store: Store) -> None:
    sid = await _service(store)
    row = _row(_at(2), service_id=sid)
    await store.insert_notifications([row])
    got = await store.notifications.get(sid, row.id)
    assert got is not None
    assert got["id"] == row.id
    changes = await store.update_statuses([StatusUpdate(id=row.id, status="sending", at=_at(2))])
    assert [c.status for c in changes] == ["sending"]
    lo, hi = nt.created_window([row.id])
    plan = await sql.fetch(
        store,
        "EXPLAIN SELECT id FROM notifications WHERE service_id = $1 AND id = $2"
        " AND created_at >= $3 AND created_at < $4", sid, row.id, lo, hi,
    )  # fmt: skip
    scanned = [r[0] for r in plan if " on notifications_" in r[0]]
    assert len(scanned) == 1, plan
    # An id made before time-ordered ids (random) is still found, in every partition.
    old = make_row(service_id=sid, created_at=_at(1))
    await store.insert_notifications([old])
    assert (await store.notifications.get(sid, old.id)) is not None


async def test_a_partition_past_every_retention_is_counted_then_dropped(own_store: Store) -> None:
    store = own_store
    short = await _service(store, email=3)
    default = await _service(store)  # 7 days
    await store.partitions.create_ahead(TODAY + dt.timedelta(days=20))
    gone = [_row(_at(1), service_id=default, status="delivered", billable_units=2)
            for _ in range(3)]  # fmt: skip
    gone.append(_row(_at(1), service_id=short, status="permanent-failure"))
    kept = _row(_at(5), service_id=default, status="delivered")
    await store.insert_notifications([*gone, kept])
    await sql.execute(
        store, "INSERT INTO documents (id, service_id, notification_id, personalisation_key,"
        " mime_type, sending_method, content, expires_at) VALUES ($1, $2, $3, 'f',"
        " 'text/plain', 'link', 'x', $4)", uuid.uuid4(), default, gone[0].id, _at(30),
    )  # fmt: skip
    # On day 1 + 7 + 1 the day-1 partition is past the longest retention (7): it goes.
    _, dropped = await store.partitions.maintain(TODAY + dt.timedelta(days=9))
    assert dropped == 4
    names = await store.partitions.names()
    assert f"notifications_p{TODAY + dt.timedelta(1):%Y%m%d}" not in names
    assert f"notifications_p{TODAY + dt.timedelta(5):%Y%m%d}" in names
    left = {r["id"] for r in await sql.fetch(store, "SELECT id FROM notifications")}
    assert left == {kept.id}
    assert await sql.fetch(store, "SELECT id FROM documents") == []
    stats = await sql.fetch(
        store, "SELECT service_id, day, status, sum(notifications) AS notifications,"
        " sum(billable_units) AS billable_units FROM notification_stats GROUP BY 1, 2, 3",
    )  # fmt: skip
    by_service = {r["service_id"]: r for r in stats}
    assert by_service[default]["notifications"] == 3
    assert by_service[default]["billable_units"] == 6
    assert by_service[default]["day"] == TODAY + dt.timedelta(days=1)
    assert by_service[short]["status"] == "permanent-failure"


async def test_a_longer_retention_keeps_the_partition_and_the_row_purge_serves_shorter(
    own_store: Store,
) -> None:
    store = own_store
    long = await _service(store, sms=30)
    short = await _service(store, email=3)
    await store.partitions.create_ahead(TODAY + dt.timedelta(days=20))
    rows = [_row(_at(1), service_id=long, notification_type="sms"),
            _row(_at(1), service_id=short)]  # fmt: skip
    await store.insert_notifications(rows)
    today = TODAY + dt.timedelta(days=9)
    _, dropped = await store.partitions.maintain(today)
    assert dropped == 0  # 30 days: the day-1 partition stays
    assert await store.retention.purge_expired(today) == 1
    left = {r["id"] for r in await sql.fetch(store, "SELECT id FROM notifications")}
    assert left == {rows[0].id}


async def test_two_housekeepers_at_once_drop_and_count_each_partition_once(
    own_store: Store,
) -> None:
    store = own_store
    sid = await _service(store)
    await store.partitions.create_ahead(TODAY + dt.timedelta(days=20))
    rows = [_row(_at(day), service_id=sid) for day in (1, 2, 3) for _ in range(50)]
    await store.insert_notifications(rows)
    results: list[tuple[int, int]] = []

    async def maintain() -> None:
        results.append(await store.partitions.maintain(TODAY + dt.timedelta(days=11)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(maintain)
        nursery.start_soon(maintain)
    assert sum(dropped for _, dropped in results) == 150
    total = await sql.fetchrow(store, "SELECT sum(notifications) AS n FROM notification_stats")
    assert total["n"] == 150
    assert (await sql.fetchrow(store, "SELECT count(*) AS n FROM notifications"))["n"] == 0


async def test_the_migration_keeps_every_row_of_a_populated_table(
    aio_loop: None, database_url: str
) -> None:
    """Today's schema (every migration before 0020) with rows of several ages, then the
    partitioning migration: every row is there, unchanged, in the legacy partition, and
    readable and writable through the store."""
    name = f"notify_part_{uuid.uuid4().hex[:10]}"
    fresh = with_database(database_url, name)
    await _admin(database_url, f"CREATE DATABASE {name}")
    try:
        sid = uuid.uuid4()
        before = [m for m in load_migrations() if m.version < 20]
        ages = [0, 1, 5, 40, 400]
        ids = [uuid.uuid4() for _ in range(2000)]
        await _old_schema_with_rows(fresh, before, sid, ids, ages)
        with trio.fail_after(120):
            async with Store.open(fresh) as store, trio.open_nursery() as nursery:
                await nursery.start(store.run)
                applied = await store.migrate()
                assert 20 in applied
                count = await sql.fetchrow(store, "SELECT count(*) AS n FROM notifications")
                assert count["n"] == len(ids)
                row = await sql.fetchrow(
                    store, "SELECT tableoid::regclass::text AS p, recipient, created_at"
                    " FROM notifications WHERE id = $1", ids[1234],
                )  # fmt: skip
                assert row["p"] == "notifications_legacy"
                # A partition holding rows keeps its layout (0035 remakes empty ones only).
                columns, _ = await _layout(store, "notifications_legacy")
                assert columns.index("status") < columns.index("body")
                assert row["recipient"] == "person.1234@example.com"
                assert row["created_at"] == _ago(ages[1234 % len(ages)])
                got = await store.notifications.get(sid, ids[7])
                assert got is not None
                changes = await store.update_statuses(
                    [StatusUpdate(id=ids[5], status="delivered", at=utcnow())]
                )
                assert len(changes) == 1
                # New rows go to the daily partitions after the legacy one.
                new = _row(_at(2), service_id=sid)
                await store.insert_notifications([new])
                assert (await _partition_of(store, new.id)).startswith("notifications_p")
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await _admin(database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _ago(days: int) -> dt.datetime:
    return _at(-days, hour=6)


async def _old_schema_with_rows(
    dsn: str, migrations: list, sid: uuid.UUID, ids: list[uuid.UUID], ages: list[int]
) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for m in migrations:
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    m.version, m.name,
                )  # fmt: skip
            await conn.executemany(
                "INSERT INTO notifications (id, service_id, template_id, template_version,"
                " key_type, notification_type, recipient, status, body, created_at)"
                " VALUES ($1, $2, $3, 1, 'normal', 'email', $4, 'sending', 'b', $5)",
                [(i, sid, sid, f"person.{n}@example.com", _ago(ages[n % len(ages)]))
                 for n, i in enumerate(ids)],
            )  # fmt: skip
        finally:
            await conn.close()

    await trio_asyncio.aio_as_trio(run)()


async def _admin(dsn: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    await trio_asyncio.aio_as_trio(run)()

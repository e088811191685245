"""What one notification costs the database: bytes kept, WAL written, HOT updates.

    python bench/storage.py [--notifications 100000] [--batch 1000]

Writes ``notifications`` through the store's real write path (group-committed COPY, then
the three status writes a sent email gets: ``sending``, the provider's reference,
``delivered``), with realistic sizes (a ~700-byte rendered body, four personalisation
fields), into a scratch database. Prints one JSON line:

- ``heap_bytes_per_notification`` / ``index_bytes_per_notification``: the table and its
  indexes (``pg_relation_size``, ``pg_indexes_size``) over the count, after VACUUM;
- ``wal_bytes_per_notification``: ``pg_current_wal_lsn()`` before and after, over the count
  (the WAL is the whole server's: run it on a server nothing else writes to, such as the
  embedded one this script starts when DATABASE_URL is unset);
- ``side_table_bytes_per_notification``: ``notification_references`` (heap and index),
  the provider references receipts look up, on a build that has it (migration 0031);
- ``hot_update_ratio``: ``n_tup_hot_upd / n_tup_upd`` of ``notifications``: a HOT update
  writes no index entry; a non-HOT one writes one in every index.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.store_inserts import _drop, _scratch, server_dsn
from engine.domain.notification import NotificationRow, new_ids
from engine.domain.timestamps import utcnow
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql

BODY = (
    "Dear ((name)),\n\nYour application ((reference)) for a passport renewal was received on "
    "((date)). We will write to you at ((address)) when it has been processed. "
) * 3


def rows(n: int, service: uuid.UUID, template: uuid.UUID) -> list[NotificationRow]:
    now = utcnow()
    ids = new_ids(n, now)
    out = []
    for i in range(n):
        values = {"name": f"Person {i}", "reference": f"A-{i:08d}", "date": "2026-12-06",
                  "address": f"{i} Main Street, Ottawa ON K1A 0A{i % 10}"}  # fmt: skip
        body = BODY
        for key, value in values.items():
            body = body.replace(f"(({key}))", value)
        out.append(NotificationRow(
            id=ids[i], service_id=service, template_id=template, template_version=1,
            api_key_id=uuid.uuid4(), key_type="normal", notification_type="email",
            recipient=f"person.{i}@example.com", status="created", client_reference=f"ref-{i}",
            personalisation=json.dumps(values), subject="Your passport application",
            body=body, reply_to_text=None, process_type="normal", billable_units=1,
            job_id=None, job_row_number=None, scheduled_for=None, unsubscribe_url=None,
            created_at=now,
        ))  # fmt: skip
    return out


# The table's relations: itself, or its partitions (and their own) when partitioned.
PARTS = (
    "SELECT relid FROM pg_partition_tree('notifications') WHERE isleaf"
    " UNION ALL SELECT 'notifications'::regclass WHERE NOT EXISTS"
    " (SELECT 1 FROM pg_partition_tree('notifications'))"
)
SIZES_SQL = f"""
SELECT sum(pg_relation_size(relid)) AS heap,
       sum(pg_total_relation_size(relid) - pg_relation_size(relid) - pg_indexes_size(relid))
           AS toast,
       sum(pg_indexes_size(relid)) AS indexes,
       (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)
        FROM pg_partition_tree(to_regclass('notification_references'))) AS side
FROM ({PARTS}) parts
"""
# Each index of the table, summed over its partitions' copies (bytes).
INDEX_SIZES_SQL = """
SELECT i.indexrelid::regclass::text AS name,
       (SELECT coalesce(sum(pg_relation_size(t.relid)), 0)
        FROM pg_partition_tree(i.indexrelid) t) AS bytes
FROM pg_index i WHERE i.indrelid = 'notifications'::regclass ORDER BY 1
"""


async def _stats(store: Store) -> dict[str, int]:
    await sql.execute(store, "SELECT pg_stat_force_next_flush()")
    row = await sql.fetchrow(
        store,
        "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS wal,"
        " coalesce(sum(n_tup_upd), 0) AS upd, coalesce(sum(n_tup_hot_upd), 0) AS hot"
        f" FROM pg_stat_user_tables WHERE relid IN ({PARTS})",
    )
    return {"wal": int(row["wal"]), "upd": int(row["upd"]), "hot": int(row["hot"])}


async def measure(dsn: str, count: int, batch: int) -> dict[str, object]:
    async with trio_asyncio.open_loop(), Store.open(dsn, batch_rows=batch) as store:
        await store.migrate()
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            await trio.sleep(1.2)  # the statistics flush interval: start from settled counters
            before = await _stats(store)
            service, template = uuid.uuid4(), uuid.uuid4()
            for start in range(0, count, batch):
                part = rows(min(batch, count - start), service, template)
                await store.insert_notifications(part)
                for update in (
                    lambda r: StatusUpdate(id=r.id, status="sending", at=utcnow(), provider="ses"),
                    lambda r: StatusUpdate(id=r.id, status="sending", at=utcnow(), provider="ses",
                                           provider_reference=f"ses-{r.id.hex}"),
                    lambda r: StatusUpdate(id=r.id, status="delivered", at=utcnow()),
                ):  # fmt: skip
                    await store.update_statuses([update(r) for r in part])
            await trio.sleep(1.2)
            after = await _stats(store)
            await sql.execute(store, "VACUUM (ANALYZE) notifications")
            sizes = await sql.fetchrow(store, SIZES_SQL)
            nursery.cancel_scope.cancel()
    updates = after["upd"] - before["upd"]
    return {
        "notifications": count,
        "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
        "heap_bytes_per_notification": round(sizes["heap"] / count),
        "toast_bytes_per_notification": round(sizes["toast"] / count),
        "index_bytes_per_notification": round(sizes["indexes"] / count),
        # notification_references (migration 0031: table and index), where there is one.
        "side_table_bytes_per_notification": round(int(sizes["side"]) / count),
        "wal_bytes_per_notification": round((after["wal"] - before["wal"]) / count),
        "updates_per_notification": round(updates / count, 2),
        "hot_update_ratio": round((after["hot"] - before["hot"]) / updates, 3) if updates else None,
    }


async def run(count: int, batch: int) -> dict[str, object]:
    base = server_dsn()
    async with trio_asyncio.open_loop():
        dsn = await _scratch(base)
    try:
        return await measure(dsn, count, batch)
    finally:
        async with trio_asyncio.open_loop():
            await _drop(base, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(trio.run(run, args.notifications, args.batch)))


if __name__ == "__main__":
    main()

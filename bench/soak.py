"""Soak: millions of notifications over simulated days with retention on, through the
store's real write path; the table must stay flat once retention is reached.

    python bench/soak.py [--days 9] [--per-day 250000] [--retention 3] [--batch 1000]
                         [--vacuum-every 0] [--fillfactor N] [--toast-target N]
                         [--body-repeat 1]

Each simulated day (the clock moves, nobody waits): ``--per-day`` notifications with
``created_at`` spread over that UTC day are written the way the engine writes them
(group-committed insert, sealed with a data key; then the three status writes a sent email
gets: ``sending``, the provider's reference, ``delivered``), then the day's housekeeping
runs as the engine runs it (partitions made ahead and dropped past retention when the
schema has them, then the per-row purge), then one ``VACUUM`` (what autovacuum does at
least once in a real day). One service, ``--retention`` days for both channels (the
only service: its retention is the longest, so whole days can go). Days start tomorrow
(today's rows would share the first partition with older ones).

Prints one JSON line per day, then a summary line:
- ``rate``: notifications per second of the write phase (inserts and status writes);
  with the load average beside it (the machine is shared: compare like with like);
- ``table_bytes`` / ``index_bytes``: heap (+ TOAST) and indexes of the table, summed over
  its partitions, after the day's housekeeping; ``side_bytes``: ``notification_references``
  (table and index, migration 0031), 0 on a build without it; ``bytes_per_retained``: the
  three over the rows kept;
- ``wal_per_notification``: the server's WAL over the day (writes + housekeeping +
  vacuum) over the day's notifications: run on a server nothing else writes to (the
  embedded one this script starts when DATABASE_URL is unset);
- ``hot_ratio``: HOT updates over updates of the table's relations during the day's
  writes (counted before the housekeeping, which drops partitions and their counters:
  before this, days after the first drop read null or nonsense);
- ``housekeeping_s``: the day's partition upkeep and purge.
The summary adds ``index_bytes_last_day``: each index of the table (summed over its
partitions) after the last day.
Runs against any build of the engine (main's schema has no partitions and random ids).

``--fillfactor N``: every day partition of ``notifications`` gets fillfactor N before its
day is written (``ALTER TABLE ... SET``), instead of the one the migrations make it with:
how much the room left on each page for HOT versions matters.

``--toast-target N``: every day partition gets ``toast_tuple_target = N`` the same way (a
partitioned parent refuses the parameter: "unrecognized parameter"), and the sealed
columns ``STORAGE EXTERNAL`` (set on the parent, so the partitions there are get it and
new ones copy it; catalogue only, no rewrite): whether moving the ciphertexts out of line
makes the status writes copy a narrow row. ``toast_bytes`` in each day's line is the TOAST
part of ``table_bytes``. ``--body-repeat K``: the rendered body K times as long (1: a
~1,385-byte sealed row; 3: ~2.9 kB before TOAST). PostgreSQL 15 calls the toaster only for
a row longer than ``TOAST_TUPLE_THRESHOLD`` (2,032 bytes), whatever the target: a lower
target only sets how far a row already over it is shrunk. So with the usual body the
target changes nothing (no byte goes to TOAST; same bytes and WAL), and with long bodies
the default already moves the body out (heap row ~620 bytes) and 128 moves the other three
sealed values out too (~270 bytes), each its own TOAST row and index entry at insert.
Measured, 10 days of 100,000, ``--vacuum-every 4``, days 5-10 (bytes per retained, WAL per
notification, HOT): usual body, main 2,632, 6,782, 0 and with 128 2,632, 6,800, 0; body x3,
main 4,122, 7,295 and with 128 4,002, 7,289; 0031 at fillfactor 70 4,239, 6,523, 0.523 and
with 128 4,090, 6,587, 0.429 (at 100: 3,988, 7,464, 0.005). Not adopted: README, "Soak",
out-of-line sealed columns.

``--vacuum-every N``: a ``VACUUM`` after every N batches of the day, standing in for
autovacuum's visits during a real 24-hour day. Without it, bytes per retained notification
measure how often autovacuum happened to visit a partition while a day written in seconds
was being written: space pruned on a page reaches the free space map through VACUUM, so
until one runs, a new row version that does not fit on its page extends the partition,
and a day's partition takes no rows after its day, so that space is never used again.
Measured (2 days of
20,000 sealed rows; after the day's VACUUM the heap was 64-70% free space, rows 1,384 B):
the partitioned build 5,242 B (no autovacuum visit) and 4,875 B (one visit) per retained
notification, 2,896 B with ``--vacuum-every 4``; h21a's HOT design 5,031 B and 2,861 B.
Migration 0031's HOT design, 10 days of 100,000, ``--vacuum-every 4``, days 5-10: main
2,632 B, 6,767 B WAL, HOT 0; 0031 at fillfactor 70 2,674 B, 7,049 B WAL, HOT 0.365 (80:
the same; 60: 3,304 B, 6,250 B, 0.555; 50: 4,625 B, 5,899 B, 0.646). README, "Soak".
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.storage import BODY, INDEX_SIZES_SQL, SIZES_SQL, _stats
from bench.store_inserts import _drop, _scratch, server_dsn
from engine.crypto import DataKeys
from engine.domain import notification as nt
from engine.domain.notification import NotificationRow
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql

DATA_KEY = "soak-data-key-0123456789abcdef"


def _ids(times: list[dt.datetime]) -> list[uuid.UUID]:
    """The ids the engine would make: time-ordered where it makes them so."""
    if len(inspect.signature(nt.new_ids).parameters) == 2:
        return [nt.new_ids(1, t)[0] for t in times]
    return nt.new_ids(len(times))  # type: ignore[call-arg]


def rows(
    times: list[dt.datetime],
    start: int,
    service: uuid.UUID,
    template: uuid.UUID,
    body_repeat: int = 1,
) -> list[NotificationRow]:
    out = []
    for k, (nid, at) in enumerate(zip(_ids(times), times, strict=True)):
        i = start + k
        values = {"name": f"Person {i}", "reference": f"A-{i:08d}", "date": "2026-12-06",
                  "address": f"{i} Main Street, Ottawa ON K1A 0A{i % 10}"}  # fmt: skip
        body = BODY * body_repeat
        for key, value in values.items():
            body = body.replace(f"(({key}))", value)
        out.append(NotificationRow(
            id=nid, service_id=service, template_id=template, template_version=1,
            api_key_id=None, key_type="normal", notification_type="email",
            recipient=f"person.{i}@example.com", status="created", client_reference=f"ref-{i}",
            personalisation=json.dumps(values), subject="Your passport application",
            body=body, reply_to_text=None, process_type="normal", billable_units=1,
            job_id=None, job_row_number=None, scheduled_for=None, unsubscribe_url=None,
            created_at=at,
        ))  # fmt: skip
    return out


async def _write_day(
    store: Store,
    day: dt.date,
    per_day: int,
    batch: int,
    sid: uuid.UUID,
    vacuum_every: int = 0,
    body_repeat: int = 1,
) -> None:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=86_400 / per_day)
    template = uuid.uuid4()
    for start in range(0, per_day, batch):
        times = [midnight + step * i for i in range(start, min(per_day, start + batch))]
        part = rows(times, start, sid, template, body_repeat)
        await store.insert_notifications(part)
        later = times[-1] + dt.timedelta(seconds=1)
        await store.update_statuses(
            [StatusUpdate(id=r.id, status="sending", at=later, provider="ses") for r in part]
        )
        await store.update_statuses([
            StatusUpdate(id=r.id, status="sending", at=later, provider="ses",
                         provider_reference=f"ses-{r.id.hex}") for r in part
        ])  # fmt: skip
        await store.update_statuses(
            [StatusUpdate(id=r.id, status="delivered", at=later) for r in part]
        )
        if vacuum_every and (start // batch + 1) % vacuum_every == 0:
            await sql.execute(store, "VACUUM notifications")


async def _set_fillfactor(store: Store, fillfactor: int | None) -> None:
    """Every partition there is (those ahead included) at ``fillfactor``."""
    if fillfactor is None:
        return
    for part in await sql.fetch(store, "SELECT name FROM notification_partitions"):
        await sql.execute(
            store, f'ALTER TABLE "{part["name"]}" SET (fillfactor = {int(fillfactor)})'
        )


SEALED_COLUMNS = ("recipient", "personalisation", "subject", "body")


async def _set_toast_target(store: Store, target: int | None) -> None:
    """Every partition there is at ``toast_tuple_target = target`` (a partitioned parent
    takes no storage parameter, so each partition, like ``_set_fillfactor``), and the sealed
    columns ``STORAGE EXTERNAL`` (set on the parent: it reaches the partitions there are and
    new ones copy it): ciphertext does not compress, so out of line, as it is."""
    if target is None:
        return
    for part in await sql.fetch(store, "SELECT name FROM notification_partitions"):
        await sql.execute(
            store, f'ALTER TABLE "{part["name"]}" SET (toast_tuple_target = {int(target)})'
        )
    for column in SEALED_COLUMNS:
        await sql.execute(
            store, f"ALTER TABLE notifications ALTER COLUMN {column} SET STORAGE EXTERNAL"
        )


async def _housekeeping(store: Store, today: dt.date) -> int:
    gone = 0
    partitions: Any = getattr(store, "partitions", None)
    if partitions is not None:
        _, gone = await partitions.maintain(today)
    return gone + await store.retention.purge_expired(today, max_rows=10**9)


async def soak(
    dsn: str,
    days: int,
    per_day: int,
    retention: int,
    batch: int,
    vacuum_every: int = 0,
    fillfactor: int | None = None,
    toast_target: int | None = None,
    body_repeat: int = 1,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    out: list[dict[str, Any]] = []
    async with (
        trio_asyncio.open_loop(),
        Store.open(dsn, batch_rows=batch, data_keys=DataKeys([DATA_KEY])) as store,
    ):
        await store.migrate()
        await _set_fillfactor(store, fillfactor)
        await _set_toast_target(store, toast_target)
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            sid = uuid.uuid4()
            await sql.execute(
                store, "INSERT INTO services (id, name, email_from) VALUES ($1, 's', 's')", sid
            )
            for channel in ("email", "sms"):
                await store.retention.set_period(sid, channel, retention)
            first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
            await trio.sleep(1.2)  # statistics flush interval
            for d in range(days):
                day = first + dt.timedelta(days=d)
                before = await _stats(store)
                t0 = time.perf_counter()
                await _write_day(store, day, per_day, batch, sid, vacuum_every, body_repeat)
                wrote = time.perf_counter() - t0
                # Updates counted before housekeeping: a dropped partition takes its
                # counters with it (the day's sums would go down, even below zero).
                await trio.sleep(1.2)
                written = await _stats(store)
                t1 = time.perf_counter()
                gone = await _housekeeping(store, day + dt.timedelta(days=1))
                kept_s = time.perf_counter() - t1
                await _set_fillfactor(store, fillfactor)
                await _set_toast_target(store, toast_target)
                await sql.execute(store, "VACUUM notifications")
                await trio.sleep(1.2)
                after = await _stats(store)
                sizes = await sql.fetchrow(store, SIZES_SQL)
                live = await sql.fetchrow(store, "SELECT count(*) AS n FROM notifications")
                upd = written["upd"] - before["upd"]
                table = int(sizes["heap"]) + int(sizes["toast"])
                side = int(sizes["side"])
                out.append({
                    "day": d + 1, "rate": round(per_day / wrote), "load": os.getloadavg()[0],
                    "purged": gone, "retained": int(live["n"]), "table_bytes": table,
                    "toast_bytes": int(sizes["toast"]),
                    "index_bytes": int(sizes["indexes"]), "side_bytes": side,
                    "bytes_per_retained": round((table + int(sizes["indexes"]) + side)
                                                / max(1, int(live["n"]))),
                    "wal_per_notification": round((after["wal"] - before["wal"]) / per_day),
                    "hot_ratio": round((written["hot"] - before["hot"]) / upd, 3) if upd else None,
                    "housekeeping_s": round(kept_s, 2),
                })  # fmt: skip
                print(json.dumps(out[-1]), flush=True)
            indexes = {r["name"]: int(r["bytes"]) for r in await sql.fetch(store, INDEX_SIZES_SQL)}
            nursery.cancel_scope.cancel()
    return out, indexes


def summary(days: list[dict[str, Any]], retention: int) -> dict[str, Any]:
    """Figures over the days once retention is reached (the steady state)."""
    steady = days[retention + 1 :] or days[-1:]

    def mean(key: str) -> float | None:  # a day whose updates were not counted: None
        known = [d[key] for d in steady if d[key] is not None]
        return round(sum(known) / len(known), 3) if known else None

    return {
        "steady_days": [d["day"] for d in steady],
        "bytes_per_retained": mean("bytes_per_retained"),
        "wal_per_notification": mean("wal_per_notification"),
        "hot_ratio": mean("hot_ratio"),
        "total_bytes_first_last_steady": [
            steady[0]["table_bytes"] + steady[0]["index_bytes"] + steady[0]["side_bytes"],
            steady[-1]["table_bytes"] + steady[-1]["index_bytes"] + steady[-1]["side_bytes"],
        ],
        "rate_first_last_day": [days[0]["rate"], days[-1]["rate"]],
        "load_first_last_day": [days[0]["load"], days[-1]["load"]],
    }


async def run(
    days: int,
    per_day: int,
    retention: int,
    batch: int,
    vacuum_every: int,
    fillfactor: int | None = None,
    toast_target: int | None = None,
    body_repeat: int = 1,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    base = server_dsn()
    async with trio_asyncio.open_loop():
        dsn = await _scratch(base)
    try:
        return await soak(
            dsn, days, per_day, retention, batch, vacuum_every, fillfactor, toast_target,
            body_repeat,
        )  # fmt: skip
    finally:
        async with trio_asyncio.open_loop():
            await _drop(base, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=9)
    parser.add_argument("--per-day", type=int, default=250_000)
    parser.add_argument("--retention", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--vacuum-every", type=int, default=0)
    parser.add_argument("--fillfactor", type=int, default=None)
    parser.add_argument("--toast-target", type=int, default=None)
    parser.add_argument("--body-repeat", type=int, default=1)
    args = parser.parse_args()
    days, indexes = trio.run(
        run, args.days, args.per_day, args.retention, args.batch, args.vacuum_every,
        args.fillfactor, args.toast_target, args.body_repeat,
    )  # fmt: skip
    result = summary(days, args.retention)
    result["notifications"] = args.days * args.per_day
    result["index_bytes_last_day"] = indexes
    print(json.dumps(result))


if __name__ == "__main__":
    main()

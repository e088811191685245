"""Soak: millions of notifications over simulated days with retention on, through the
store's real write path; the table must stay flat once retention is reached.

    python bench/soak.py [--days 9] [--per-day 250000] [--retention 3] [--batch 1000]
                         [--vacuum-every 0]

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
  its partitions, after the day's housekeeping; ``bytes_per_retained``: both over the rows
  kept;
- ``wal_per_notification``: the server's WAL over the day (writes + housekeeping +
  vacuum) over the day's notifications: run on a server nothing else writes to (the
  embedded one this script starts when DATABASE_URL is unset);
- ``hot_ratio``: HOT updates over updates of the table's relations that day;
- ``housekeeping_s``: the day's partition upkeep and purge.
Runs against any build of the engine (main's schema has no partitions and random ids).

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

from bench.storage import BODY, SIZES_SQL, _stats
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
    times: list[dt.datetime], start: int, service: uuid.UUID, template: uuid.UUID
) -> list[NotificationRow]:
    out = []
    for k, (nid, at) in enumerate(zip(_ids(times), times, strict=True)):
        i = start + k
        values = {"name": f"Person {i}", "reference": f"A-{i:08d}", "date": "2026-12-06",
                  "address": f"{i} Main Street, Ottawa ON K1A 0A{i % 10}"}  # fmt: skip
        body = BODY
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
    store: Store, day: dt.date, per_day: int, batch: int, sid: uuid.UUID, vacuum_every: int = 0
) -> None:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=86_400 / per_day)
    template = uuid.uuid4()
    for start in range(0, per_day, batch):
        times = [midnight + step * i for i in range(start, min(per_day, start + batch))]
        part = rows(times, start, sid, template)
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


async def _housekeeping(store: Store, today: dt.date) -> int:
    gone = 0
    partitions: Any = getattr(store, "partitions", None)
    if partitions is not None:
        _, gone = await partitions.maintain(today)
    return gone + await store.retention.purge_expired(today, max_rows=10**9)


async def soak(
    dsn: str, days: int, per_day: int, retention: int, batch: int, vacuum_every: int = 0
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with (
        trio_asyncio.open_loop(),
        Store.open(dsn, batch_rows=batch, data_keys=DataKeys([DATA_KEY])) as store,
    ):
        await store.migrate()
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
                await _write_day(store, day, per_day, batch, sid, vacuum_every)
                wrote = time.perf_counter() - t0
                t1 = time.perf_counter()
                gone = await _housekeeping(store, day + dt.timedelta(days=1))
                kept_s = time.perf_counter() - t1
                await sql.execute(store, "VACUUM notifications")
                await trio.sleep(1.2)
                after = await _stats(store)
                sizes = await sql.fetchrow(store, SIZES_SQL)
                live = await sql.fetchrow(store, "SELECT count(*) AS n FROM notifications")
                upd = after["upd"] - before["upd"]
                table = int(sizes["heap"]) + int(sizes["toast"])
                out.append({
                    "day": d + 1, "rate": round(per_day / wrote), "load": os.getloadavg()[0],
                    "purged": gone, "retained": int(live["n"]), "table_bytes": table,
                    "index_bytes": int(sizes["indexes"]),
                    "bytes_per_retained": round((table + int(sizes["indexes"]))
                                                / max(1, int(live["n"]))),
                    "wal_per_notification": round((after["wal"] - before["wal"]) / per_day),
                    "hot_ratio": round((after["hot"] - before["hot"]) / upd, 3) if upd else None,
                    "housekeeping_s": round(kept_s, 2),
                })  # fmt: skip
                print(json.dumps(out[-1]), flush=True)
            nursery.cancel_scope.cancel()
    return out


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
            steady[0]["table_bytes"] + steady[0]["index_bytes"],
            steady[-1]["table_bytes"] + steady[-1]["index_bytes"],
        ],
        "rate_first_last_day": [days[0]["rate"], days[-1]["rate"]],
        "load_first_last_day": [days[0]["load"], days[-1]["load"]],
    }


async def run(
    days: int, per_day: int, retention: int, batch: int, vacuum_every: int
) -> list[dict[str, Any]]:
    base = server_dsn()
    async with trio_asyncio.open_loop():
        dsn = await _scratch(base)
    try:
        return await soak(dsn, days, per_day, retention, batch, vacuum_every)
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
    args = parser.parse_args()
    days = trio.run(run, args.days, args.per_day, args.retention, args.batch, args.vacuum_every)
    result = summary(days, args.retention)
    result["notifications"] = args.days * args.per_day
    print(json.dumps(result))


if __name__ == "__main__":
    main()

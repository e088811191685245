"""What out-of-line sealed columns cost the reads: GET by id and the list, A/B taking turns.

    python bench/toast_reads.py [--rows 20000] [--toast-target 128] [--body-repeat 1]
                                [--rounds 20] [--gets 200] [--lists 20]

Two day partitions of ``notifications`` in one scratch database, each written through the
store's real write path (bench/soak.py's sealed rows, then ``sending``, the reference,
``delivered``), each for its own service: day A's partition with ``toast_tuple_target``
and the sealed columns (recipient, personalisation, subject, body) ``STORAGE EXTERNAL``,
day B's as the migrations make it. Then ``VACUUM ANALYZE`` and rounds of reads through
``engine.store.notifications`` (``get``: GET /v2/notifications/{id}; ``page``: the list,
250 newest): each round times ``--gets`` gets and ``--lists`` lists on A and on B, in a
shuffled order, so both sides see the same load on a shared machine.

Prints one JSON line: for each side the mean heap tuple length (``pageinspect``'s
``lp_len`` over the partition's normal line pointers, after VACUUM; null where the
extension is missing), heap and TOAST bytes, and the median over the rounds of
microseconds per get and per list; ``get_ratio`` / ``list_ratio`` are A over B.

PostgreSQL 15 calls the toaster only for a tuple longer than ``TOAST_TUPLE_THRESHOLD``
(2,032 bytes with 8 kB pages), whatever ``toast_tuple_target`` says: a lower target only
decides how far a tuple already over the threshold is shrunk. A ~1.4 kB sealed email row
is never toasted (``--body-repeat 1``: both sides alike); a body long enough to pass the
threshold (``--body-repeat 3``) is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import DATA_KEY, SEALED_COLUMNS, rows
from bench.store_inserts import in_scratch
from engine.crypto import DataKeys
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql

PARTITION_OF = """
SELECT name FROM notification_partitions WHERE starts <= $1 AND ends > $1
"""
TUPLE_LENGTH_SQL = """
SELECT avg(lp_len) AS lp_len FROM generate_series(0, pg_relation_size($1::regclass) / 8192 - 1) b,
     heap_page_items(get_raw_page($1::text, b::int)) WHERE lp_flags = 1
"""


async def _write(
    store: Store, day: dt.date, count: int, service: uuid.UUID, body_repeat: int
) -> list[uuid.UUID]:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=86_400 / count)
    template, ids = uuid.uuid4(), []
    for start in range(0, count, 1000):
        times = [midnight + step * i for i in range(start, min(count, start + 1000))]
        part = rows(times, start, service, template, body_repeat)
        await store.insert_notifications(part)
        later = times[-1] + dt.timedelta(seconds=1)
        for ref in (None, "ses"):
            await store.update_statuses([
                StatusUpdate(id=r.id, status="sending", at=later, provider="ses",
                             provider_reference=None if ref is None else f"ses-{r.id.hex}")
                for r in part
            ])  # fmt: skip
        await store.update_statuses(
            [StatusUpdate(id=r.id, status="delivered", at=later) for r in part]
        )
        ids.extend(r.id for r in part)
    return ids


async def _side(store: Store, partition: str) -> dict[str, Any]:
    sizes = await sql.fetchrow(
        store,
        "SELECT pg_relation_size($1::regclass) AS heap, pg_total_relation_size($1::regclass)"
        " - pg_relation_size($1::regclass) - pg_indexes_size($1::regclass) AS toast",
        partition,
    )
    try:
        await sql.execute(store, "CREATE EXTENSION IF NOT EXISTS pageinspect")
        length = await sql.fetchrow(store, TUPLE_LENGTH_SQL, partition)
        lp_len = round(float(length["lp_len"]))
    except Exception:  # a server without contrib: no tuple length
        lp_len = None
    return {"heap_tuple_bytes": lp_len, "heap": int(sizes["heap"]), "toast": int(sizes["toast"])}


async def _time_reads(
    store: Store, service: uuid.UUID, ids: list[uuid.UUID], gets: int, lists: int
) -> tuple[float, float]:
    t0 = time.perf_counter()
    for nid in random.sample(ids, gets):
        assert await store.notifications.get(service, nid) is not None
    t1 = time.perf_counter()
    for _ in range(lists):
        page = await store.notifications.page(
            service, "normal", types=[], statuses=[], reference=None,
            include_jobs=False, older_than=None, limit=250,
        )  # fmt: skip
        assert len(page) == 250
    t2 = time.perf_counter()
    return (t1 - t0) / gets * 1e6, (t2 - t1) / lists * 1e6


async def measure(dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    async with (
        trio_asyncio.open_loop(),
        Store.open(dsn, data_keys=DataKeys([DATA_KEY])) as store,
    ):
        await store.migrate()
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
            sides: dict[str, dict[str, Any]] = {}
            for name, day in (("A", first), ("B", first + dt.timedelta(days=1))):
                await store.partitions.maintain(day)
                at = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
                partition = (await sql.fetchrow(store, PARTITION_OF, at))["name"]
                if name == "A":
                    await sql.execute(
                        store,
                        f'ALTER TABLE "{partition}" SET'
                        f" (toast_tuple_target = {int(args.toast_target)})",
                    )
                    for column in SEALED_COLUMNS:
                        await sql.execute(
                            store,
                            f'ALTER TABLE "{partition}" ALTER COLUMN {column} SET STORAGE EXTERNAL',
                        )
                service = uuid.uuid4()
                await sql.execute(
                    store, "INSERT INTO services (id, name, email_from) VALUES ($1, $2, 's')",
                    service, f"s{name}",
                )  # fmt: skip
                ids = await _write(store, day, args.rows, service, args.body_repeat)
                sides[name] = {"service": service, "ids": ids, "partition": partition}
            await sql.execute(store, "VACUUM ANALYZE notifications")
            timings: dict[str, dict[str, list[float]]] = {"A": {"get": [], "list": []},
                                                          "B": {"get": [], "list": []}}  # fmt: skip
            for _ in range(args.rounds):
                for name in random.sample(["A", "B"], 2):
                    side = sides[name]
                    get_us, list_us = await _time_reads(
                        store, side["service"], side["ids"], args.gets, args.lists
                    )
                    timings[name]["get"].append(get_us)
                    timings[name]["list"].append(list_us)
            out: dict[str, Any] = {"rows_per_side": args.rows, "body_repeat": args.body_repeat,
                                   "toast_target_A": args.toast_target}  # fmt: skip
            for name, side in sides.items():
                out[name] = await _side(store, side["partition"])
                out[name]["get_us"] = round(statistics.median(timings[name]["get"]))
                out[name]["list_us"] = round(statistics.median(timings[name]["list"]))
            out["get_ratio"] = round(out["A"]["get_us"] / out["B"]["get_us"], 3)
            out["list_ratio"] = round(out["A"]["list_us"] / out["B"]["list_us"], 3)
            nursery.cancel_scope.cancel()
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    return await in_scratch(measure, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--toast-target", type=int, default=128)
    parser.add_argument("--body-repeat", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--gets", type=int, default=200)
    parser.add_argument("--lists", type=int, default=20)
    print(json.dumps(trio.run(run, parser.parse_args())))


if __name__ == "__main__":
    main()

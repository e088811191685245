"""What one sealed notification insert costs the database: WAL bytes, heap and index bytes
per row, rows/s (``Store.insert_notifications`` with data keys, 1,000-row batches).

    python bench/insert_cost.py [--rows 50000]

Uses DATABASE_URL if set (a scratch database created and dropped; the WAL figure is the
server's, so other work on the same server inflates it: compare runs taking turns,
``/work/notes/ab.sh``). Written to price the recipient hash and its index (migration
0022): run it on this build and on one before it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_inserts import _drop, _rows, _scratch, server_dsn

from engine.crypto import DataKeys
from engine.store.store import Store
from tests import sql


async def measure(dsn: str, rows: int) -> dict[str, float]:
    keys = DataKeys(["insert-cost-data-key-0123456789"])
    chunks = [_rows(1000) for _ in range(rows // 1000)]
    async with (
        trio_asyncio.open_loop(),
        Store.open(dsn, batch_rows=1000, data_keys=keys) as store,
        trio.open_nursery() as nursery,
    ):
        await store.migrate()
        await nursery.start(store.run)
        await store.insert_notifications(chunks[0])  # warm: pools, plans
        [start] = await sql.fetch(store, "SELECT pg_current_wal_insert_lsn()::text AS lsn")
        began = time.perf_counter()
        for chunk in chunks[1:]:
            await store.insert_notifications(chunk)
        elapsed = time.perf_counter() - began
        [wal] = await sql.fetch(
            store,
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn) AS bytes",
            start["lsn"],
        )
        [size] = await sql.fetch(store, "SELECT pg_indexes_size('notifications') AS indexes,"
                                 " pg_table_size('notifications') AS heap")  # fmt: skip
        await store.close()
    timed = len(chunks[1:]) * 1000
    return {
        "rows": rows,
        "wal_bytes_per_row": round(float(wal["bytes"]) / timed),
        "index_bytes_per_row": round(size["indexes"] / rows),
        "heap_bytes_per_row": round(size["heap"] / rows),
        "rows_per_s": round(timed / elapsed),
        "load_average": os.getloadavg()[0],
    }


async def run(rows: int) -> dict[str, float]:
    base = server_dsn()
    async with trio_asyncio.open_loop():
        dsn = await _scratch(base)
    try:
        return await measure(dsn, rows)
    finally:
        async with trio_asyncio.open_loop():
            await _drop(base, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    print(json.dumps(trio.run(run, args.rows)))


if __name__ == "__main__":
    main()

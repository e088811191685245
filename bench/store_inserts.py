"""Store insert throughput: rows/s through the StoreActor's group commit, 1,000-row batches.

    python bench/store_inserts.py [--rows 200000] [--batch 1000]

Uses DATABASE_URL if set, else the embedded PostgreSQL in .notify-data/bench-pg. Writes
into a scratch database it creates and drops. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.domain.notification import NotificationRow
from engine.domain.timestamps import utcnow
from engine.store.dsn import with_database
from engine.store.store import Store
from tests import sql

T = TypeVar("T")


def _rows(n: int) -> list[NotificationRow]:
    service, template, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    return [
        NotificationRow(
            id=uuid.uuid4(), service_id=service, template_id=template, template_version=1,
            api_key_id=None, key_type="normal", notification_type="email",
            recipient=f"user{i}@example.com", status="created", client_reference=None,
            personalisation='{"name": "Ada"}', subject="Hello Ada", body="Dear Ada, hello.",
            reply_to_text=None, process_type="normal", billable_units=1, job_id=None,
            job_row_number=None, scheduled_for=None, unsubscribe_url=None, created_at=now,
        )
        for i in range(n)
    ]  # fmt: skip


def server_dsn() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from engine.store.embedded import start_embedded

    return start_embedded(".notify-data/bench-pg")


async def measure_store_inserts(
    dsn: str, rows: int = 200_000, batch: int = 1000
) -> dict[str, float]:
    """Insert ``rows`` rows as ``batch``-row calls, 4 callers in parallel; return rows/s."""
    async with trio_asyncio.open_loop(), Store.open(dsn, batch_rows=batch) as store:
        await store.migrate()
        await sql.execute(store, "TRUNCATE notifications")
        chunks = [_rows(batch) for _ in range(rows // batch)]
        send, recv = trio.open_memory_channel[list[NotificationRow]](len(chunks))
        for c in chunks:
            send.send_nowait(c)
        send.close()

        async def caller() -> None:
            async for chunk in recv:
                await store.insert_notifications(chunk)

        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            started = time.perf_counter()
            async with trio.open_nursery() as callers:
                for _ in range(4):
                    callers.start_soon(caller)
            elapsed = time.perf_counter() - started
            await store.close()
        await sql.execute(store, "TRUNCATE notifications")
    return {"store_rows": rows, "store_seconds": round(elapsed, 3),
            "store_rows_per_s": round(rows / elapsed)}  # fmt: skip


async def _scratch(base: str) -> str:
    import asyncpg

    name = f"notify_bench_{uuid.uuid4().hex[:8]}"
    conn = await trio_asyncio.aio_as_trio(asyncpg.connect)(base)
    await trio_asyncio.aio_as_trio(conn.execute)(f"CREATE DATABASE {name}")
    await trio_asyncio.aio_as_trio(conn.close)()
    # Not by string surgery: an embedded server's URL has its socket folder, slashes
    # included, in the query string.
    return with_database(base, name)


async def _drop(base: str, dsn: str) -> None:
    import asyncpg

    name = urlsplit(dsn).path.lstrip("/")
    conn = await trio_asyncio.aio_as_trio(asyncpg.connect)(base)
    await trio_asyncio.aio_as_trio(conn.execute)(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await trio_asyncio.aio_as_trio(conn.close)()


async def in_scratch(measure: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``measure(dsn, *args)`` in a scratch database of the server, dropped after."""
    base = server_dsn()
    async with trio_asyncio.open_loop():
        dsn = await _scratch(base)
    try:
        return await measure(dsn, *args)
    finally:
        async with trio_asyncio.open_loop():
            await _drop(base, dsn)


async def run(rows: int, batch: int) -> dict[str, float]:
    return await in_scratch(measure_store_inserts, rows, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    result = trio.run(run, args.rows, args.batch)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

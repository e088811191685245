"""Callback delivery throughput: callbacks/s to a fast local receiver, CPU µs per callback.

    python bench/callbacks.py [--count 5000] [--services 4] [--concurrency 16]

The receiver (bench/trivial_app.py's app on the built-in server, one port per service, so
each service is its own origin as in production) runs in a separate process.
``count`` notifications are written and moved to ``delivered`` first, so the owed
callbacks sit in ``callback_queue`` (queued by migration 0002's trigger); then a
CallbackManager is started and timed until the queue is empty. CPU is this process's
(claims, JSON, headers, httpx2, deletes), the receiver and PostgreSQL not included.
Uses DATABASE_URL if set, else the embedded PostgreSQL; writes into a scratch database it
creates and drops. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import uuid
from functools import partial
from pathlib import Path

import msgspec
import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import DATA_KEY
from bench.store_inserts import _drop, _rows, _scratch, server_dsn
from engine.actors.callbacks import CallbackManager
from engine.actors.ownership import Ownership
from engine.crypto import DataKeys, SecretBox
from engine.domain.timestamps import utcnow
from engine.services import Registry
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql

ROOT = Path(__file__).resolve().parent.parent
BOX = SecretBox("bench-secret-key-0123456789abcdef")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare(store: Store, urls: list[str], count: int) -> list[uuid.UUID]:
    ids = []
    services = len(urls)
    for url in urls:
        sid = uuid.uuid4()
        ids.append(sid)
        await sql.execute(
            store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'b', 'b')", sid
        )
        await sql.execute(
            store,
            "INSERT INTO service_callbacks (service_id, callback_type, url, bearer_sealed)"
            " VALUES ($1, 'delivery_status', $2, $3)",
            sid,
            url,
            BOX.seal("bench-bearer-token"),
        )
    rows = [
        msgspec.structs.replace(r, service_id=ids[i % services]) for i, r in enumerate(_rows(count))
    ]
    await store.insert_notifications(rows)
    for status in ("sending", "delivered"):
        await store.update_statuses(
            [StatusUpdate(id=r.id, status=status, at=utcnow()) for r in rows]
        )
    return ids


async def measure(dsn: str, urls: list[str], count: int, concurrency: int) -> dict[str, float]:
    keys = DataKeys([DATA_KEY])  # the engine seals personal data (issue 21)
    async with trio_asyncio.open_loop(), Store.open(dsn, data_keys=keys) as store:
        await store.migrate()
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            await prepare(store, urls, count)
            queued = (await sql.fetchrow(store, "SELECT count(*) AS n FROM callback_queue"))["n"]
            assert queued == count, queued
            ownership = Ownership(store.recovery)  # a registration: claims record it
            await ownership.register()
            manager = CallbackManager(
                store, Registry(store, BOX), ownership, concurrency=concurrency, poll=0.05,
                allow_http=True, allow_private=True,  # the receiver: http on 127.0.0.1
            )  # fmt: skip
            wall, cpu = time.perf_counter(), time.process_time()
            await nursery.start(manager.run)
            with trio.fail_after(600):
                while True:
                    left = await sql.fetchrow(store, "SELECT count(*) AS n FROM callback_queue")
                    if not left["n"]:
                        break
                    await trio.sleep(0.05)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            nursery.cancel_scope.cancel()
    return {
        "callbacks": count,
        "services": len(urls),
        "concurrency_per_service": concurrency,
        "seconds": round(wall, 3),
        "callbacks_per_s": round(count / wall),
        "cpu_us_per_callback": round(cpu / count * 1e6),
    }


async def run(count: int, services: int, concurrency: int) -> dict[str, float]:
    ports = [free_port() for _ in range(services)]
    receiver = await trio.lowlevel.open_process(
        [sys.executable, __file__, "--receiver", ",".join(map(str, ports))]
    )
    base = server_dsn()
    try:
        await trio.sleep(1.0)  # the receiver binds its port
        async with trio_asyncio.open_loop():
            dsn = await _scratch(base)
        try:
            urls = [f"http://127.0.0.1:{port}/callback" for port in ports]
            return await measure(dsn, urls, count, concurrency)
        finally:
            async with trio_asyncio.open_loop():
                await _drop(base, dsn)
    finally:
        receiver.terminate()
        with trio.move_on_after(10):
            await receiver.wait()


async def receive(ports: list[int]) -> None:
    """The receiver process: the trivial app on every port."""
    from bench.trivial_app import app
    from engine.http1.server import serve

    async with trio.open_nursery() as nursery:
        for port in ports:
            nursery.start_soon(partial(serve, app, host="127.0.0.1", port=port))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--services", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--receiver", help=argparse.SUPPRESS)  # internal: ports to serve
    args = parser.parse_args()
    if args.receiver:
        trio.run(receive, [int(p) for p in args.receiver.split(",")])
        return
    print(json.dumps(trio.run(run, args.count, args.services, args.concurrency)))


if __name__ == "__main__":
    main()

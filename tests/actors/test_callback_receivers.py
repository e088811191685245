"""Callbacks to receivers that are not our own server, counted per notification: a receiver
that answers HTTP/1.0 and ends its body by closing (Python's ``http.server`` by default)
gets each callback exactly once, and is never suspended. Before issue 18's client every such
200 counted as a connection failure: checked on that build (673b3ec~1), 26 of 40 callbacks
arrived, the endpoint was suspended after 25 "failures", and the 26 delivered ones were
owed again (each would be sent again after the suspension)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trio

from engine.domain import statuses as st
from engine.store.store import Store
from tests.actors.test_callbacks import (
    Receiver,
    add_service,
    notify,
    queued,
    wait_for,
)


class _Http10Receiver(BaseHTTPRequestHandler):
    """HTTP/1.0 (the default), no Content-Length: the body ends when the server closes."""

    counts: Counter[str]
    lock: threading.Lock

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.counts[json.loads(body)["id"]] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"received": true}')

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        pass


@contextmanager
def http10_receiver() -> Iterator[tuple[str, Counter[str]]]:
    counts: Counter[str] = Counter()
    handler = type("Handler", (_Http10Receiver,), {"counts": counts, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cb", counts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


async def test_an_http10_close_delimited_receiver_gets_each_callback_once(
    store: Store, manager_factory: Any
) -> None:
    with http10_receiver() as (url, counts):
        sid = await add_service(store, url)
        await manager_factory(retry_seconds=0.2, max_retries=3)
        ids = await notify(store, sid, 40, st.DELIVERED)
        with trio.move_on_after(6):
            for _ in range(120):  # bounded: 6 s
                if not await queued(store):
                    break
                await trio.sleep(0.05)
        await trio.sleep(1.0)  # past several retry periods: a retried callback would be here
    duplicates = {k: n for k, n in counts.items() if n > 1}
    assert duplicates == {}
    assert sorted(counts) == sorted(str(i) for i in ids)
    assert await queued(store) == 0


async def test_a_stored_private_url_is_not_called_at_delivery(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    # A URL set before the rule (or a name that now resolves to a private address).
    sid = await add_service(store, receiver.url("/private"))
    await manager_factory(allow_http=True, allow_private=False, max_retries=0)
    await notify(store, sid, 3, st.DELIVERED)
    await wait_for(lambda: _empty(store), 10)
    assert receiver.of("/private") == []  # refused before connecting: given up, never sent


async def _empty(store: Store) -> bool:
    return await queued(store) == 0

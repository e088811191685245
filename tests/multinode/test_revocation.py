"""Revocation and service changes reach every engine process within 1 s.

Three engine instances (separate processes and ports, one database). Each change is made
through node A's admin API while nodes B and C hold the service in their caches (each has
just answered a request with the key); from A's answer on, B and C are polled until they
refuse, and the time that took must stay under 1 s (the registry's TTL backstop is 10 s:
without the notices it took ~9 s). A last test restarts PostgreSQL (a server of the
test's own) under two nodes: once it is back, a revocation still reaches the other node
within 1 s (the listener reconnected). Real processes, loopback only, every wait bounded.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from engine.store.store import Store
from tests.conftest import ADMIN_TOKEN, reset_database
from tests.pg_instance import pg_instance
from tests.processes import engine_process, engine_processes

pytestmark = pytest.mark.slow

PROPAGATION_S = 1.0  # the guarantee
POLL_FOR_S = 4.0  # how long a node is polled before the test gives up (> 1 s, < the TTL)


class Node:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
async def nodes(store: Store, database_url: str) -> AsyncIterator[list[Node]]:
    with tempfile.TemporaryDirectory() as folder:
        async with engine_processes(database_url, folder, 3) as urls:
            yield [Node(u) for u in urls]


async def _setup(url: str) -> dict[str, Any]:
    """A live service on node ``url``: its id, an email template, a key (id and secret)."""
    async with _admin(url) as admin:
        service = (await admin.post("/admin/services", json={
            "name": "Broadcast test", "email_from": "broadcast", "restricted": False,
            "rate_limit": 100_000, "email_daily_limit": 1_000_000,
        })).json()  # fmt: skip
        sid = service["id"]
        template = (await admin.post(f"/admin/services/{sid}/templates", json={
            "name": "t", "type": "email", "subject": "Hi ((name))", "content": "Code ((code))",
        })).json()  # fmt: skip
        key = (await admin.post(f"/admin/services/{sid}/api-keys", json={"name": "k"})).json()
    return {"sid": sid, "template": template["id"], "key_id": key["id"], "key": key["key"]}


def _admin(url: str) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return httpx2.AsyncClient(base_url=url, timeout=10, headers=headers)


async def _send(client: httpx2.AsyncClient, setup: dict[str, Any]) -> int:
    r = await client.post(
        "/v2/notifications/email",
        headers={"Authorization": f"ApiKey-v1 {setup['key']}"},
        json={"email_address": "someone@example.com", "template_id": setup["template"],
              "personalisation": {"name": "A", "code": 1}},
    )  # fmt: skip
    return r.status_code


async def _refused_after(
    urls: list[str], setup: dict[str, Any], change: Callable[[], Awaitable[None]], refused: int
) -> list[float]:
    """Warm every node's cache, make the change, then the seconds from the change's answer
    until each node answered ``refused`` (``inf``: not within ``POLL_FOR_S``)."""
    clients = [httpx2.AsyncClient(base_url=u, timeout=5) for u in urls]
    try:
        for client in clients:  # each node now holds the service's bundle
            assert await _send(client, setup) == 201
        await change()
        changed_at = trio.current_time()
        elapsed = [float("inf")] * len(clients)

        async def poll(index: int) -> None:
            with trio.move_on_after(POLL_FOR_S):
                for _ in range(10_000):
                    if await _send(clients[index], setup) == refused:
                        elapsed[index] = trio.current_time() - changed_at
                        return
                    await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            for index in range(len(clients)):
                nursery.start_soon(poll, index)
        return elapsed
    finally:
        for client in clients:
            await client.aclose()


async def test_a_revoked_key_is_refused_on_every_node_within_a_second(
    nodes: list[Node],
) -> None:
    a, b, c = nodes
    with trio.fail_after(60):
        setup = await _setup(a.url)

        async def revoke() -> None:
            async with _admin(a.url) as admin:
                r = await admin.delete(f"/admin/services/{setup['sid']}/api-keys/{setup['key_id']}")
                assert r.status_code == 200, r.text

        elapsed = await _refused_after([b.url, c.url], setup, revoke, 403)
    assert max(elapsed) < PROPAGATION_S, f"refused on B, C after {elapsed} s"


async def test_a_suspension_and_a_rate_limit_reach_every_node_within_a_second(
    nodes: list[Node],
) -> None:
    a, b, c = nodes
    with trio.fail_after(60):
        setup = await _setup(a.url)

        async def update(**fields: Any) -> None:
            async with _admin(a.url) as admin:
                r = await admin.patch(f"/admin/services/{setup['sid']}", json=fields)
                assert r.status_code == 200, r.text

        async def suspend() -> None:
            await update(suspended=True)

        suspended = await _refused_after([b.url, c.url], setup, suspend, 403)
        await update(suspended=False)

        async def one_a_minute() -> None:
            await update(rate_limit=1)

        limited = await _refused_after([b.url, c.url], setup, one_a_minute, 429)
    assert max(suspended) < PROPAGATION_S, f"suspension seen on B, C after {suspended} s"
    assert max(limited) < PROPAGATION_S, f"rate limit seen on B, C after {limited} s"


async def _listening(client: httpx2.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "notify_service_changes_listening":
            return family.samples[0].value
    raise AssertionError("no notify_service_changes_listening gauge")


async def _until_listening(client: httpx2.AsyncClient, value: float) -> None:
    for _ in range(600):
        if await _listening(client) == value:
            return
        await trio.sleep(0.05)
    raise AssertionError(f"notify_service_changes_listening never became {value}")


async def test_after_a_database_restart_a_revocation_still_propagates(
    aio_loop: None,
) -> None:
    with (
        pg_instance() as pg,
        tempfile.TemporaryDirectory() as folder,
        trio.fail_after(150),
    ):
        await reset_database(pg.dsn)  # migrated before two engines race to do it
        async with (
            engine_process(pg.dsn, folder) as (_, a_url),
            engine_process(pg.dsn, folder) as (_, b_url),
            httpx2.AsyncClient(base_url=b_url, timeout=5) as b,
        ):
            setup = await _setup(a_url)
            await _until_listening(b, 1)
            await trio.to_thread.run_sync(pg.stop)
            await _until_listening(b, 0)
            await trio.sleep(1.0)
            await trio.to_thread.run_sync(pg.start)
            await _until_listening(b, 1)
            for _ in range(300):  # B's pools reconnect on their own
                if await _send(b, setup) == 201:
                    break
                await trio.sleep(0.1)

            async def revoke() -> None:
                async with _admin(a_url) as admin:
                    r = await admin.delete(
                        f"/admin/services/{setup['sid']}/api-keys/{setup['key_id']}"
                    )
                    assert r.status_code == 200, r.text

            elapsed = await _refused_after([b_url], setup, revoke, 403)
    assert elapsed[0] < PROPAGATION_S, f"refused on B after {elapsed[0]} s"

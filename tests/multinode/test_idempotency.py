"""Idempotency-Key across processes (issue 24): two engines on one database, a client
retrying the same request on both at once. Exactly one notification is written per key;
every answer is the first 201 (byte for byte) or a 409 while that one is in flight (the
IETF draft's choice, ``engine.api.idempotency``); once it has answered, every retry on
either node gets that 201. Real processes, loopback only, every wait bounded.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator

import httpx2
import pytest
import trio

from engine.store.store import Store
from tests import sql
from tests.processes import engine_processes, setup_email_service

pytestmark = pytest.mark.slow

KEYS = 8  # distinct Idempotency-Keys
RETRIES = 6  # concurrent sends of each, alternating between the two nodes


@pytest.fixture
async def two_nodes(store: Store, database_url: str) -> AsyncIterator[list[str]]:
    with tempfile.TemporaryDirectory() as folder:
        async with engine_processes(database_url, folder, 2) as urls:
            yield urls


async def test_concurrent_retries_on_two_processes_send_once(
    store: Store, two_nodes: list[str]
) -> None:
    template, key = await setup_email_service(two_nodes[0])
    answers: dict[str, list[tuple[int, bytes]]] = {f"key-{i}": [] for i in range(KEYS)}
    clients = [httpx2.AsyncClient(base_url=u, timeout=20) for u in two_nodes]

    async def send(client: httpx2.AsyncClient, name: str) -> tuple[int, bytes]:
        r = await client.post(
            "/v2/notifications/email",
            headers={"Authorization": f"ApiKey-v1 {key}", "Idempotency-Key": name},
            json={"email_address": "someone@example.com", "template_id": template,
                  "personalisation": {"name": name, "code": 1}},
        )  # fmt: skip
        return r.status_code, r.content

    async def one(client: httpx2.AsyncClient, name: str) -> None:
        answers[name].append(await send(client, name))

    try:
        with trio.fail_after(90):
            async with trio.open_nursery() as nursery:
                for attempt in range(RETRIES):
                    for name in answers:
                        nursery.start_soon(one, clients[attempt % 2], name)
            # Afterwards, a retry on either node is the stored 201.
            later = {name: [await send(c, name) for c in clients] for name in answers}
    finally:
        for c in clients:
            await c.aclose()

    sid = (await sql.fetchrow(store, "SELECT service_id FROM api_keys LIMIT 1"))["service_id"]
    rows = await sql.fetch(
        store, "SELECT id::text AS id FROM notifications WHERE service_id = $1", sid
    )
    assert len(rows) == KEYS, f"{len(rows)} notifications for {KEYS} keys"
    ids = {r["id"] for r in rows}
    for name, got in answers.items():
        created = {body for status, body in got if status == 201}
        assert len(created) == 1, (name, got)  # at least one 201, all of them the same
        assert {status for status, _ in got} <= {201, 409}, (name, got)
        assert {status for status, _ in later[name]} == {201}
        assert {body for _, body in later[name]} == created
        first = created.pop()
        assert str(uuid.UUID(httpx2.Response(201, content=first).json()["id"])) in ids

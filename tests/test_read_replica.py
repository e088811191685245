"""``DATABASE_REPLICA_URL`` on a real engine process (``engine.store.replica``): with the
replica's replay paused, the v2 list is the replica's (it lacks the newest notification)
while a GET of that notification is answered by the primary (201 then 200, never 404);
once replay resumes the list has it; the replica's connections stay within
``NOTIFY_DB_REPLICA_POOL_SIZE`` (README, "Database connections"). A primary and its
streaming replica of the test's own (``tests.pg_replica``); the store-level rules are
``tests/store/test_replica.py``."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
import trio

from tests.pg_replica import PgPair, pg_primary_and_replica
from tests.processes import engine_process, setup_email_service

pytestmark = pytest.mark.slow
EMAIL = "replica.api@example.com"
REPLICA_POOL = 2


@asynccontextmanager
async def replicated_engine() -> AsyncIterator[tuple[PgPair, str]]:
    """A primary, its replica, and an engine using both: (the pair, the engine's url)."""
    pair_cm = pg_primary_and_replica()
    pair = await trio.to_thread.run_sync(pair_cm.__enter__)
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = {"DATABASE_REPLICA_URL": pair.replica_dsn,
                   "NOTIFY_DB_REPLICA_POOL_SIZE": str(REPLICA_POOL)}  # fmt: skip
            async with engine_process(pair.primary_dsn, folder, **env) as (_, url):
                yield pair, url
    finally:
        await trio.to_thread.run_sync(pair_cm.__exit__, None, None, None)


async def on_replica(pair: PgPair, sql: str, expected: str | None = None) -> None:
    """Run ``sql`` on the replica; with ``expected``, until it answers that (bounded)."""
    for _ in range(600):
        answer = await trio.to_thread.run_sync(pair.psql, pair.replica_port, sql)
        if expected is None or answer == expected:
            return
        await trio.sleep(0.05)
    raise AssertionError(f"{sql!r} never answered {expected!r}")


async def test_the_api_reads_the_replica_and_never_404s_for_what_it_lacks() -> None:
    async with replicated_engine() as (pair, url):
        template, key = await setup_email_service(url)
        headers = {"Authorization": f"ApiKey-v1 {key}"}
        async with httpx2.AsyncClient(base_url=url, timeout=10, headers=headers) as client:

            async def send() -> str:
                r = await client.post("/v2/notifications/email", json={
                    "email_address": EMAIL, "template_id": template,
                    "personalisation": {"name": "x", "code": "y"},
                })  # fmt: skip
                assert r.status_code == 201, r.text
                return str(r.json()["id"])

            async def listed() -> set[str]:
                page = (await client.get("/v2/notifications")).json()
                return {n["id"] for n in page["notifications"]}

            first = await send()
            await on_replica(pair, f"SELECT count(*) FROM notifications WHERE id = '{first}'", "1")
            await on_replica(pair, "SELECT pg_wal_replay_pause()")
            await on_replica(pair, "SELECT pg_get_wal_replay_pause_state()", "paused")
            second = await send()
            got = await client.get(f"/v2/notifications/{second}")
            assert got.status_code == 200, got.text  # the primary's answer
            assert got.json()["email_address"] == EMAIL
            assert await listed() == {first}  # the replica's view: lagging
            await on_replica(pair, "SELECT pg_wal_replay_resume()")
            for _ in range(600):
                if await listed() == {first, second}:
                    break
                await trio.sleep(0.05)
            else:
                raise AssertionError("the list never showed the second notification")
            # Many reads at once: the replica sees at most the pool's size of connections.
            async with trio.open_nursery() as nursery:
                for _ in range(20):
                    nursery.start_soon(listed)
            count = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'notify-engine'"
            opened = await trio.to_thread.run_sync(pair.psql, pair.replica_port, count)
            assert 1 <= int(opened) <= REPLICA_POOL

"""The connection budget (README, "Database connections"): a process opens at most
``NOTIFY_DB_POOL_SIZE + keyed pool + 1`` connections (main pool, keyed pool, the service
changes listener), the keyed pool being ``NOTIFY_DB_KEYED_POOL_SIZE`` or, unset,
``2 x NOTIFY_STORE_WRITERS + 2``; a machine opens that times ``NOTIFY_WORKERS`` (the
parent opens none). Counted in ``pg_stat_activity`` by an ``application_name`` of the
test's own, given in the DSN (the engine keeps a name the DSN sets). Real processes."""

from __future__ import annotations

import tempfile
import uuid

import httpx2
import pytest
import trio

from engine.config import load_settings
from engine.store.store import Store
from tests import sql
from tests.processes import engine_process, free_ports, setup_email_service, wait_ready

pytestmark = pytest.mark.slow


def budget(environ: dict[str, str]) -> int:
    """The README's formula, per machine, from the engine's own settings."""
    s = load_settings(environ)
    keyed = s.db_keyed_pool_size or 2 * s.store_writers + 2
    return s.workers * (s.db_pool_size + keyed + 1)


async def _count(store: Store, name: str) -> int:
    rows = await sql.fetch(
        store, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", name
    )
    return int(rows[0]["n"])


async def _settled(store: Store, name: str, expected: int) -> int:
    """The count once it reaches ``expected`` (pools open in the background), or the last."""
    count = await _count(store, name)
    for _ in range(100):
        if count == expected:
            break
        await trio.sleep(0.05)
        count = await _count(store, name)
    return count


@pytest.mark.parametrize(
    "env",
    [
        {"NOTIFY_DB_POOL_SIZE": "2", "NOTIFY_DB_KEYED_POOL_SIZE": "3"},
        {"NOTIFY_DB_POOL_SIZE": "2", "NOTIFY_STORE_WRITERS": "1", "NOTIFY_WORKERS": "2"},
    ],
    ids=["one-process", "two-workers"],
)
async def test_a_machine_opens_the_connections_the_formula_says(
    store: Store, database_url: str, env: dict[str, str]
) -> None:
    # A main pool of 2 is full from the start (its floor is 2), so the formula's maximum
    # is what is open once the engine is ready, exactly.
    name = f"notify-conn-{uuid.uuid4().hex[:8]}"
    # The embedded server's URL already has a query (its socket folder).
    dsn = f"{database_url}{'&' if '?' in database_url else '?'}application_name={name}"
    expected = budget(env)
    if "NOTIFY_WORKERS" in env:
        metrics_port = free_ports(2)
        env = {**env, "NOTIFY_METRICS_PORT": str(metrics_port)}
    with tempfile.TemporaryDirectory() as folder, trio.fail_after(120):
        async with engine_process(dsn, folder, **env) as (process, _):
            if "NOTIFY_WORKERS" in env:  # each worker ready, not only the first to answer
                for index in range(2):
                    metrics = f"http://127.0.0.1:{metrics_port + index}"
                    await wait_ready(metrics, process, "/_status")
            count = await _settled(store, name, expected)
    assert count == expected, f"{count} connections, the formula says {expected}"


async def test_under_load_a_process_stays_within_the_formula(
    store: Store, database_url: str
) -> None:
    """Defaults: the main pool grows on demand; the sampled peak never passes the formula."""
    name = f"notify-conn-{uuid.uuid4().hex[:8]}"
    # The embedded server's URL already has a query (its socket folder).
    dsn = f"{database_url}{'&' if '?' in database_url else '?'}application_name={name}"
    expected = budget({})
    peak = 0
    with tempfile.TemporaryDirectory() as folder, trio.fail_after(120):
        async with engine_process(dsn, folder) as (_, url):
            template_id, key = await setup_email_service(url)

            async def send(client: httpx2.AsyncClient, i: int) -> None:
                r = await client.post(
                    "/v2/notifications/email",
                    headers={"Authorization": f"ApiKey-v1 {key}"},
                    json={"email_address": f"u{i}@example.com", "template_id": template_id,
                          "personalisation": {"name": "A", "code": i}},
                )  # fmt: skip
                assert r.status_code == 201, r.text

            async def load() -> None:
                limits = httpx2.Limits(max_connections=50)
                async with (
                    httpx2.AsyncClient(base_url=url, timeout=20, limits=limits) as client,
                    trio.open_nursery() as nursery,
                ):
                    for i in range(400):
                        nursery.start_soon(send, client, i)

            async with trio.open_nursery() as nursery:
                done = trio.Event()

                async def sample() -> None:
                    nonlocal peak
                    for _ in range(2000):
                        peak = max(peak, await _count(store, name))
                        if done.is_set():
                            return
                        await trio.sleep(0.02)

                nursery.start_soon(sample)
                await load()
                done.set()
    assert 0 < peak <= expected, f"peak {peak} connections, the formula says {expected}"

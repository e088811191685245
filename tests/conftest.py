"""Shared fixtures.

Rules for every test here:
- A real PostgreSQL: DATABASE_URL if set, else an embedded one started once per session in
  this checkout's temporary folder (``embedded_test_folder``), stopped when the session
  ends, even after a failure. Each session gets its own fresh database; tables are emptied before
  every test that uses them.
- Real sockets bind 127.0.0.1 with port 0; tests that touch them use the real clock and an
  absolute ``trio.fail_after``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
import trio
import trio_asyncio

from engine.config import Settings, load_settings
from engine.crypto import DataKeys
from engine.store.dsn import with_database
from engine.store.embedded import Embedded
from engine.store.store import Store
from tests import sql
from tests.clamd_support import Clamd

ADMIN_TOKEN = "test-admin-token-0123456789"
SECRET_KEY = "test-secret-key-0123456789abcdef"


# The embedded server this run started (when DATABASE_URL is unset); stopped at the end of
# the session whatever happened (``pytest_sessionfinish``, which runs after failures and
# Ctrl-C too). Its folder is per checkout (two checkouts never share a server nor run each
# other's binaries) and stays, so the next run skips initdb.
_EMBEDDED: list[Embedded] = []


def embedded_test_folder() -> str:
    """``<tmp>/notify-engine-test-pg-<hash of this checkout's path>``."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256(checkout.encode()).hexdigest()[:10]
    return os.path.join(tempfile.gettempdir(), f"notify-engine-test-pg-{digest}")


def _server_dsn() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    folder = embedded_test_folder()
    # As root the server runs unprivileged: it must traverse this folder of ours.
    os.makedirs(folder, mode=0o711 if os.geteuid() == 0 else 0o700, exist_ok=True)
    embedded = Embedded(folder)
    _EMBEDDED.append(embedded)
    dsn, _ = embedded.start()
    return dsn


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _EMBEDDED:
        _EMBEDDED.pop().stop()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    base = _server_dsn()
    name = f"notify_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    dsn = with_database(base, name)
    yield dsn
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def aio_loop() -> AsyncIterator[None]:
    async with trio_asyncio.open_loop():
        yield


@pytest.fixture
async def store(aio_loop: None, database_url: str) -> AsyncIterator[Store]:
    await reset_database(database_url)
    keys = DataKeys([SECRET_KEY])
    async with (
        Store.open(database_url, linger_ms=1.0, data_keys=keys) as s,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(s.run)
        yield s
        await s.close()


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "admin_token": ADMIN_TOKEN,
        "port": 0,
        "simulated_receipt_delay_ms": 10.0,
        "drain_seconds": 2.0,
        # Test receivers listen on 127.0.0.1 over http.
        "callback_allow_http": True,
        "callback_allow_private": True,
    }
    values.update(overrides)
    return load_settings({}, **values)


test_settings.__test__ = False  # type: ignore[attr-defined]


class RunningEngine:
    """A real engine serving on a loopback port, plus an admin client for set-up."""

    def __init__(self, engine: Any, port: int) -> None:
        self.engine = engine
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"

    def client(self, **kwargs: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(base_url=self.base_url, timeout=10, **kwargs)

    def admin(self) -> httpx2.AsyncClient:
        return self.client(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    async def create_service(self, **fields: Any) -> dict[str, Any]:
        """A live service with an email and an SMS template and a key of each type."""
        async with self.admin() as a:
            body = {"name": "Test service", "email_from": "test.service", **fields}
            service = (await a.post("/admin/services", json=body)).json()
            sid = service["id"]
            email = (
                await a.post(
                    f"/admin/services/{sid}/templates",
                    json={
                        "name": "email",
                        "type": "email",
                        "subject": "Hello ((name))",
                        "content": "Dear ((name)),\n\nYour code is ((code)).",
                    },
                )
            ).json()
            sms = (
                await a.post(
                    f"/admin/services/{sid}/templates",
                    json={
                        "name": "sms",
                        "type": "sms",
                        "content": "Code: ((code))",
                    },
                )
            ).json()
            keys = {}
            for key_type in ("normal", "team", "test"):
                r = await a.post(
                    f"/admin/services/{sid}/api-keys",
                    json={"name": f"{key_type} key", "key_type": key_type},
                )
                keys[key_type] = r.json()["key"]
        return {
            "service": service,
            "email_template": email["id"],
            "sms_template": sms["id"],
            "keys": keys,
        }


async def reset_database(database_url: str) -> None:
    """Migrate, then empty every table: before an engine starts, so that no actor of it
    races the TRUNCATE (recovery sweeps at once)."""
    async with Store.open(database_url) as plain:
        await plain.migrate()
        names = await sql.fetch(
            plain,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            # Schema, not data: the partitions of notifications there are (migration 0020).
            " AND tablename NOT IN ('schema_migrations', 'notification_partitions')",
        )
        await sql.execute(plain, f"TRUNCATE {', '.join(r['tablename'] for r in names)} CASCADE")


@asynccontextmanager
async def serving_engine(database_url: str, **overrides: Any) -> AsyncIterator[RunningEngine]:
    """An engine on a fresh database, served on a loopback port (inside ``aio_loop``)."""
    from engine.api.app import EngineApp, server_error_body
    from engine.crypto import SecretBox
    from engine.http1.server import serve
    from engine.runtime import open_engine

    await reset_database(database_url)
    settings = test_settings(database_url, **overrides)
    async with (
        open_engine(settings, SecretBox(settings.secret_key)) as engine,
        trio.open_nursery() as nursery,
    ):
        shutdown = trio.Event()
        port = await nursery.start(
            partial(
                serve,
                EngineApp(engine.api_deps()),
                host="127.0.0.1",
                port=0,
                shutdown=shutdown,
                error_body=server_error_body,
            )
        )
        yield RunningEngine(engine, port)
        shutdown.set()


@pytest.fixture
async def running_engine(aio_loop: None, database_url: str) -> AsyncIterator[RunningEngine]:
    async with serving_engine(database_url) as running:
        yield running


@pytest.fixture(scope="session")
def clamd_daemon() -> Iterator[Clamd]:
    with tempfile.TemporaryDirectory(prefix="notify-clamd-") as folder:
        daemon = Clamd(Path(folder))
        daemon.start()
        try:
            yield daemon
        finally:
            daemon.stop()


@pytest.fixture
def clamd(clamd_daemon: Clamd) -> Iterator[Clamd]:
    """The session's clamd, running (a test that stopped it gets it started again after)."""
    if not clamd_daemon.running:
        clamd_daemon.start()
    yield clamd_daemon
    if not clamd_daemon.running:
        clamd_daemon.start()


@pytest.fixture
async def scanning_engine(
    aio_loop: None, database_url: str, clamd: Clamd
) -> AsyncIterator[RunningEngine]:
    """``running_engine`` whose files are scanned by the session's clamd (issue 25)."""
    async with serving_engine(database_url, clamd_address=clamd.address) as running:
        yield running

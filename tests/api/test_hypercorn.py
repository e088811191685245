"""The same ASGI application runs under hypercorn's trio worker (documented in the README
for operators who need TLS or HTTP/2). Tested once, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx2
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from engine.api.app import EngineApp
from engine.crypto import SecretBox
from engine.runtime import open_engine
from tests.api.test_slice import jwt_header
from tests.conftest import RunningEngine, reset_database, test_settings

# Absolute bounds, generous because the machine may be busy; nothing here sleeps a fixed time.
STARTUP_SECONDS = 60
TEST_SECONDS = 90


@pytest.fixture
async def hypercorn_engine(aio_loop: None, database_url: str) -> AsyncIterator[RunningEngine]:
    settings = test_settings(database_url)
    await reset_database(database_url)
    async with open_engine(settings, SecretBox(settings.secret_key)) as engine:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 5
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            with trio.fail_after(STARTUP_SECONDS):
                binds = await nursery.start(
                    partial(serve, EngineApp(engine.api_deps()), config, shutdown_trigger=stop.wait)
                )
                port = int(binds[0].rsplit(":", 1)[1])
                running = RunningEngine(engine, port)
                await _wait_until_ready(running)
            yield running
            stop.set()


async def _wait_until_ready(running: RunningEngine) -> None:
    """Poll readiness (bounded by the caller's deadline) instead of assuming it."""
    async with httpx2.AsyncClient(base_url=running.base_url, timeout=30) as client:
        while True:
            try:
                if (await client.get("/_status/ready")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await trio.sleep(0.05)


async def test_hypercorn_serves_the_engine_app(hypercorn_engine: RunningEngine) -> None:
    with trio.fail_after(TEST_SECONDS):
        setup = await hypercorn_engine.create_service()
        key = setup["keys"]["normal"]
        async with httpx2.AsyncClient(base_url=hypercorn_engine.base_url, timeout=30) as client:
            r = await client.post(
                "/v2/notifications/email",
                json={
                    "email_address": "a@example.com",
                    "template_id": setup["email_template"],
                    "personalisation": {"name": "Ada", "code": "1"},
                },
                headers=jwt_header(key),
            )
            assert r.status_code == 201, r.text
            assert r.json()["content"]["subject"] == "Hello Ada"
            while True:
                got = await client.get(
                    f"/v2/notifications/{r.json()['id']}", headers=jwt_header(key)
                )
                assert got.status_code == 200, got.text
                if got.json()["status"] == "delivered":
                    break
                await trio.sleep(0.05)
            # Errors keep the Notify envelope under hypercorn too.
            missing = await client.get("/no/such/page")
            assert missing.status_code == 404
            assert missing.json()["status_code"] == 404

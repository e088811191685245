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
from tests.conftest import TABLES, RunningEngine, test_settings


@pytest.fixture
async def hypercorn_engine(aio_loop: None, database_url: str) -> AsyncIterator[RunningEngine]:
    settings = test_settings(database_url)
    async with open_engine(settings, SecretBox(settings.secret_key)) as engine:
        await engine.store.execute(f"TRUNCATE {TABLES} CASCADE")
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                partial(serve, EngineApp(engine), config, shutdown_trigger=stop.wait)
            )
            port = int(binds[0].rsplit(":", 1)[1])
            yield RunningEngine(engine, port)
            stop.set()


async def test_hypercorn_serves_the_engine_app(hypercorn_engine: RunningEngine) -> None:
    setup = await hypercorn_engine.create_service()
    key = setup["keys"]["normal"]
    with trio.fail_after(15):
        async with httpx2.AsyncClient(base_url=hypercorn_engine.base_url) as client:
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
            while True:
                got = await client.get(
                    f"/v2/notifications/{r.json()['id']}", headers=jwt_header(key)
                )
                if got.json()["status"] == "delivered":
                    break
                await trio.sleep(0.02)

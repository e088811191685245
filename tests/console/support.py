"""The console's test harness: an engine served with the console in front (as ``engine.cli``
serves it) on a loopback port, a fixed clock the console judges sessions by, and a
``Visitor`` that keeps the console's cookies by hand (they are ``Secure``: an HTTP client's
jar would not send them over http://127.0.0.1, a browser on http://localhost does).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from http.cookies import SimpleCookie
from typing import Any

import httpx2
import trio

from engine.domain import console
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from engine.domain.timestamps import utcnow
from tests import sql
from tests.conftest import RunningEngine, reset_database, test_settings

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r"\b(\d{6})\b")


class FixedClock:
    """The console's ``now``: stands still until a test moves it."""

    def __init__(self) -> None:
        self.at = utcnow()

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


class ConsoleEngine(RunningEngine):
    clock: FixedClock

    async def add_user(
        self, email: str, *, platform_admin: bool = False, password: str = PASSWORD
    ) -> str:
        async with self.admin() as a:
            r = await a.post("/admin/console-users", json={
                "email_address": email, "name": email.split("@")[0].title(),
                "password": password, "platform_admin": platform_admin,
            })  # fmt: skip
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    async def set_roles(self, service_id: str, user_id: str, roles: list[str]) -> None:
        async with self.admin() as a:
            r = await a.put(f"/admin/services/{service_id}/console-users/{user_id}",
                            json={"roles": roles})  # fmt: skip
            assert r.status_code == 200, r.text

    async def last_code(self, email: str) -> str:
        """The code in the last sign-in email the engine wrote to ``email``."""
        rows = await sql.opened(
            self.engine.store,
            "SELECT id, recipient, body FROM notifications WHERE service_id = $1"
            " AND template_id = $2 ORDER BY created_at DESC",
            SYSTEM_SERVICE_ID, console.CODE_TEMPLATE.id,
        )  # fmt: skip
        mine = [r for r in rows if r["recipient"] == email]
        assert mine, f"no sign-in code was sent to {email}"
        found = _CODE.search(mine[0]["body"])
        assert found is not None
        return found[1]


@asynccontextmanager
async def console_engine(database_url: str, **overrides: Any) -> AsyncIterator[ConsoleEngine]:
    from engine.api.app import EngineApp, server_error_body
    from engine.console.app import with_console
    from engine.crypto import SecretBox
    from engine.http1.server import serve
    from engine.runtime import open_engine

    await reset_database(database_url)
    settings = test_settings(database_url, **overrides)
    clock = FixedClock()
    async with (
        open_engine(settings, SecretBox(settings.secret_key)) as engine,
        trio.open_nursery() as nursery,
    ):
        shutdown = trio.Event()
        deps = engine.api_deps()
        app = with_console(EngineApp(deps), deps, now=clock)
        port = await nursery.start(partial(
            serve, app, host="127.0.0.1", port=0, shutdown=shutdown,
            error_body=server_error_body,
        ))  # fmt: skip
        running = ConsoleEngine(engine, port)
        running.clock = clock
        yield running
        shutdown.set()


class Visitor:
    """One browser's cookies and requests (no redirects followed: tests look at them)."""

    def __init__(self, running: ConsoleEngine) -> None:
        self.client = httpx2.AsyncClient(base_url=running.base_url, timeout=10)
        self.jar: dict[str, str] = {}
        self.csrf = ""

    async def __aenter__(self) -> Visitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    def _keep(self, response: httpx2.Response) -> httpx2.Response:
        for header in response.headers.get_list("set-cookie"):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0":
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found[1]
        return response

    def _headers(self) -> dict[str, str]:
        if not self.jar:
            return {}
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())}

    async def get(self, path: str) -> httpx2.Response:
        self.client.cookies.clear()
        return self._keep(await self.client.get(path, headers=self._headers()))

    async def post(
        self, path: str, fields: dict[str, str], *, csrf: bool = True
    ) -> httpx2.Response:
        self.client.cookies.clear()
        data = {"csrf_token": self.csrf, **fields} if csrf else fields
        return self._keep(await self.client.post(path, data=data, headers=self._headers()))

    async def sign_in(self, running: ConsoleEngine, email: str) -> httpx2.Response:
        """Password, then the emailed code; returns the code step's answer."""
        await self.get("/console/sign-in")
        r = await self.post("/console/sign-in", {"email": email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith("/console/two-factor")
        await self.get(r.headers["location"])
        code = await running.last_code(email)
        r = await self.post("/console/two-factor", {"code": code})
        if r.status_code == 303:  # signed in: the next page has the session's CSRF token
            await self.get(r.headers["location"])
        return r

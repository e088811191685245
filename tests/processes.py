"""The engine as a real process (``python -m engine serve``), for crash and multi-process
tests. Loopback only; every wait is bounded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
import trio

from tests.conftest import ADMIN_TOKEN, SECRET_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> int:
    """A port p such that p .. p+count-1 are all free now (bounded search)."""
    for _ in range(50):
        first = free_port()
        sockets = []
        try:
            for offset in range(count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", first + offset))
            return first
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise AssertionError(f"no {count} consecutive free ports")


@asynccontextmanager
async def engine_process(
    database_url: str, folder: str, **env_overrides: str
) -> AsyncIterator[tuple[Any, str]]:
    """Start the engine, wait until ready, yield (process, base url); SIGTERM at the end."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NOTIFY_DATA_DIR": folder,
        "NOTIFY_SECRET_KEY": SECRET_KEY,
        "NOTIFY_ADMIN_TOKEN": ADMIN_TOKEN,
        "NOTIFY_PORT": str(port),
        "NOTIFY_LOG_LEVEL": "WARNING",
        "NOTIFY_CALLBACK_ALLOW_HTTP": "true",  # test receivers: http on 127.0.0.1
        "NOTIFY_CALLBACK_ALLOW_PRIVATE": "true",
        **env_overrides,
    }
    log = os.open(os.path.join(folder, f"engine-{port}.log"), os.O_WRONLY | os.O_CREAT)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "engine", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, process)
        yield process, url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        os.close(log)


@asynccontextmanager
async def engine_processes(
    database_url: str, folder: str, count: int, **env_overrides: str
) -> AsyncIterator[list[str]]:
    """``count`` engines on one database, each its own process and port: yields their
    base urls (started one after the other: the first applies the migrations)."""
    async with AsyncExitStack() as stack:
        urls = []
        for _ in range(count):
            _, url = await stack.enter_async_context(
                engine_process(database_url, folder, **env_overrides)
            )
            urls.append(url)
        yield urls


async def setup_service(url: str, **settings: object) -> tuple[str, str]:
    """A live service with ``settings`` (limits), an email template and a normal key."""
    async with httpx2.AsyncClient(
        base_url=url, timeout=5, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as admin:
        new = {"name": f"svc {uuid.uuid4().hex[:6]}", "email_from": f"s{uuid.uuid4().hex[:6]}"}
        service = (await admin.post("/admin/services", json={**new, **settings})).json()
        sid = service["id"]
        template = (await admin.post(f"/admin/services/{sid}/templates", json={
            "name": "t", "type": "email", "subject": "Hi ((name))", "content": "Code ((code))",
        })).json()  # fmt: skip
        new_key = {"name": "k", "key_type": "normal"}
        key = (await admin.post(f"/admin/services/{sid}/api-keys", json=new_key)).json()["key"]
    return template["id"], key


async def wait_ready(url: str, process: Any, path: str = "/_status/ready") -> None:
    async with httpx2.AsyncClient(base_url=url, timeout=2) as client:
        for _ in range(600):
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            assert process.returncode is None, "engine exited at start"
            await trio.sleep(0.1)
    raise AssertionError(f"{url}{path} never became ready")


async def setup_email_service(url: str) -> tuple[str, str]:
    """A live service with generous limits, an email template and a normal key."""
    return await setup_service(
        url, restricted=False, rate_limit=100_000, email_daily_limit=1_000_000
    )

"""``NOTIFY_ADMIN_HOST``/``NOTIFY_ADMIN_PORT``: the admin API on its own listener, in the
same engine process as the public one; the public port answers 404 for /admin, and the
admin CLI finds the admin listener by itself."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import httpx2
import pytest
import trio

from engine.config import ConfigError, load_settings
from engine.store.store import Store
from tests.conftest import ADMIN_TOKEN
from tests.processes import engine_process, free_port

REPO = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_admin_is_served_only_on_its_own_listener(store: Store, database_url: str) -> None:
    admin_port = free_port()
    admin_env = {"NOTIFY_ADMIN_HOST": "127.0.0.1", "NOTIFY_ADMIN_PORT": str(admin_port)}
    with tempfile.TemporaryDirectory() as folder, trio.fail_after(90):
        async with engine_process(database_url, folder, **admin_env) as (_, url):
            admin_url = f"http://127.0.0.1:{admin_port}"
            async with httpx2.AsyncClient(timeout=5, headers=AUTH) as client:
                body = {"name": "Listener", "email_from": "listener"}
                public = await client.post(f"{url}/admin/services", json=body)
                assert public.status_code == 404, public.text
                assert public.json()["errors"][0]["error"] == "NotFound"
                created = await client.post(f"{admin_url}/admin/services", json=body)
                assert created.status_code == 201, created.text
                # The public API stays on the public port only.
                assert (await client.get(f"{admin_url}/v2/templates")).status_code == 404
                assert (await client.get(f"{url}/_status/ready")).status_code == 200
            # The CLI, with the engine's environment and no --url, reaches the admin port.
            env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
            env.update(admin_env, NOTIFY_ADMIN_TOKEN=ADMIN_TOKEN, NOTIFY_DATA_DIR=folder)
            result = await trio.run_process(
                [sys.executable, "-m", "engine", "admin", "get-service", created.json()["id"]],
                env=env,
                cwd=REPO,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "Listener"


def test_an_admin_host_without_a_port_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="NOTIFY_ADMIN_PORT"):
        load_settings({"NOTIFY_ADMIN_HOST": "10.0.0.5"})
    settings = load_settings({"NOTIFY_ADMIN_PORT": "6012"})
    assert (settings.admin_host, settings.admin_port) == ("", 6012)
    assert load_settings({}).admin_port is None

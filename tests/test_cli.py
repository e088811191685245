"""``python -m engine admin ...`` as a real subprocess against a running engine.

JSON in (argument or ``-`` for stdin), JSON out, exit 0 on success; a bad JSON argument,
wrong usage, a refused token or an unreachable engine exit non-zero with a clear message
and without a traceback. The CLI never writes secrets into the data folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import trio

from engine.domain.team_mail import SYSTEM_SERVICE_ID
from tests import sql
from tests.conftest import ADMIN_TOKEN, RunningEngine, reset_database

REPO = Path(__file__).resolve().parents[1]


async def admin_cli(
    args: list[str], *, data_dir: Path, token: str | None = ADMIN_TOKEN, stdin: bytes = b""
) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env["NOTIFY_DATA_DIR"] = str(data_dir)
    if token is not None:
        env["NOTIFY_ADMIN_TOKEN"] = token
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "engine", "admin", *args],
            env=env,
            cwd=REPO,
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_create_service_template_and_key(
    running_engine: RunningEngine, tmp_path: Path
) -> None:
    url = ["--url", running_engine.base_url]
    data = tmp_path / "data"
    service_body = {"name": "CLI service", "email_from": "cli.service", "restricted": False}
    result = await admin_cli([*url, "create-service", json.dumps(service_body)], data_dir=data)
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)
    assert service["name"] == "CLI service"
    sid = service["id"]
    assert str(uuid.UUID(sid)) == sid
    template = {"name": "Welcome", "type": "email", "subject": "Hi", "content": "Hello"}
    result = await admin_cli(
        [*url, "create-template", sid, "-"], data_dir=data, stdin=json.dumps(template).encode()
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 1
    result = await admin_cli(
        [*url, "create-api-key", sid, '{"name": "live", "key_type": "normal"}'], data_dir=data
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["key"].startswith(f"live-{sid}-")
    # Written through the engine, visible through the API.
    async with running_engine.admin() as admin:
        got = await admin.get(f"/admin/services/{sid}")
    assert got.json()["email_from"] == "cli.service"
    # The CLI generated no secrets in its data folder.
    assert not data.exists()


async def test_the_token_saved_by_serve_is_used(
    running_engine: RunningEngine, tmp_path: Path
) -> None:
    (tmp_path / "admin_token").write_text(ADMIN_TOKEN + "\n")
    result = await admin_cli(
        ["--url", running_engine.base_url, "create-service", '{"name": "a", "email_from": "a"}'],
        data_dir=tmp_path,
        token=None,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "a"


async def test_bad_input_exits_non_zero_with_a_clear_message(
    running_engine: RunningEngine, tmp_path: Path
) -> None:
    url = ["--url", running_engine.base_url]
    result = await admin_cli([*url, "create-service", "{name: oops"], data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().startswith("invalid JSON body: ")
    assert b"Traceback" not in result.stderr
    result = await admin_cli([*url, "create-template", '{"name": "x"}'], data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "usage: python -m engine admin create-template SERVICE_ID JSON"
    )
    # No service was created by either call.
    assert (
        await sql.fetch(
            running_engine.engine.store, "SELECT id FROM services WHERE id <> $1", SYSTEM_SERVICE_ID
        )
        == []
    )
    # The engine's refusals are printed as its JSON envelope, with exit status 1.
    result = await admin_cli(
        [*url, "create-service", '{"name": "x"}'], data_dir=tmp_path, token="wrong-token-123"
    )
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "status_code": 403,
        "errors": [{"error": "AuthError", "message": "Invalid admin token"}],
    }
    result = await admin_cli([*url, "create-service", '{"name": "x"}'], data_dir=tmp_path)
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["status_code"] == 400
    assert "email_from" in body["errors"][0]["message"]
    result = await admin_cli([*url, "get-service", "nope"], data_dir=tmp_path, token="")
    assert result.returncode == 2
    assert "NOTIFY_ADMIN_TOKEN" in result.stderr.decode()


async def test_an_unreachable_engine_is_reported_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = await admin_cli(["--url", url, "get-service", str(uuid.uuid4())], data_dir=tmp_path)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith(f"cannot reach the engine at {url}: "), stderr
    assert "Traceback" not in stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_demo(env: dict[str, str], log: Path) -> tuple[Any, str]:
    """Start ``python -m engine demo``; return the process and its printed banner."""
    with log.open("ab") as err:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "engine", "demo"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    assert process.stdout is not None
    out = b""
    with trio.fail_after(90):
        while not re.search(rb"demo is ready.*\n={40,}\n", out, re.DOTALL):
            chunk = await process.stdout.receive_some()
            assert chunk, f"demo exited: {await trio.Path(log).read_text()}"
            out += chunk
    return process, out.decode()


async def _stop(process: Any) -> int:
    process.send_signal(signal.SIGTERM)
    with trio.move_on_after(30):
        return int(await process.wait())
    process.kill()
    await process.wait()
    raise AssertionError("the demo did not stop on SIGTERM")


def _printed(banner: str, start: str, end: str) -> str:
    lines = banner.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith(start))
    last = next(i for i in range(first, len(lines)) if lines[i].strip().startswith(end))
    return textwrap.dedent("\n".join(lines[first : last + 1]))


async def test_demo_prints_a_working_curl_and_client_snippet(
    database_url: str, tmp_path: Path
) -> None:
    # The demo generates its own secret key: no API key sealed with another may be stored
    # (the engine refuses a key that does not open them, engine.runtime.check_secret_key).
    await reset_database(database_url)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "NOTIFY_DATA_DIR": str(data),
            "NOTIFY_PORT": str(_free_port()),
            "NOTIFY_SIMULATED_RECEIPT_DELAY_MS": "10",
            "NOTIFY_LOG_LEVEL": "WARNING",
        }
    )
    process, banner = await _start_demo(env, tmp_path / "demo.log")
    try:
        key = re.search(r"API key:\s+(\S+)", banner)
        assert key is not None, banner
        # The next steps: how to stop, where the data and the admin token are, the CLI.
        steps = _printed(banner, "Next steps:", "docs:")
        assert "Ctrl-C" in steps
        assert f"data folder:  {data}" in steps
        assert f"admin token:  {data / 'admin_token'}" in steps
        assert "notify-engine admin --help" in steps
        # Secrets were generated once into the data folder, readable by the owner only.
        for name in ("secret_key", "admin_token", "demo.json"):
            assert (data / name).stat().st_mode & 0o077 == 0, name
        curl = _printed(banner, "curl -sS -X POST", "-d '")
        with trio.fail_after(60):
            sent = await trio.run_process(["sh", "-c", curl], capture_stdout=True)
        created = json.loads(sent.stdout)
        assert created["content"]["subject"] == "We received your application, Ada"
        status_curl = _printed(banner, "curl -sS http", "curl -sS http")
        status_curl = status_curl.replace("<id>", created["id"])
        with trio.fail_after(60):
            while True:
                got = await trio.run_process(["sh", "-c", status_curl], capture_stdout=True)
                if json.loads(got.stdout)["status"] == "delivered":
                    break
                await trio.sleep(0.1)
        snippet = _printed(banner, "from notifications_python_client", "print(")
        with trio.fail_after(60):
            ran = await trio.run_process(
                [sys.executable, "-c", snippet], capture_stdout=True, capture_stderr=True
            )
        assert ran.stdout.decode().strip() in ("created", "sending", "delivered")
        assert await _stop(process) == 0
        # A restart remembers the demo service and key.
        process, again = await _start_demo(env, tmp_path / "demo.log")
        assert key[1] in again
    finally:
        if process.returncode is None:
            await _stop(process)

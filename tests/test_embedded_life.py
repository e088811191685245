"""The embedded PostgreSQL's life and the operator's first start (issue 26), with real
processes: ``python -m engine`` started as a person would, ``ps`` read afterwards.

- Stopping the engine (Ctrl-C: SIGINT to the terminal's whole process group) stops its
  embedded server: no process whose command line names the data folder is left.
- NOTIFY_EMBEDDED_KEEP_RUNNING=true keeps it; ``db status`` / ``db stop`` see and stop it.
- Starting never widens a folder the operator did not give us: a data folder under a
  ``700`` parent leaves that parent ``700`` (and no system user is added).
- The usual mistakes are one line on stderr with their exit code (``engine.startup``).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.conftest import reset_database
from tests.pg_instance import owned_temp_folder

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture
def data_parent() -> Iterator[Path]:
    """A temporary folder of ours the embedded server's user can traverse (pytest's own
    tmp_path is 0700: as root the unprivileged server could not reach it)."""
    folder = owned_temp_folder("notify-life-")
    try:
        yield folder
    finally:
        _stop_leftovers(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _stop_leftovers(folder: Path) -> None:
    """Test hygiene on failure only: a server the engine should have stopped."""
    for pg in folder.rglob("postmaster.pid"):
        pid = int(pg.read_text().splitlines()[0])
        try:
            os.kill(pid, signal.SIGQUIT)
        except ProcessLookupError:
            pass


def _processes_naming(folder: Path) -> list[str]:
    listing = subprocess.run(
        ["ps", "-eww", "-o", "pid,user,args"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in listing.splitlines() if str(folder) in line]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env.pop("DATABASE_URL", None)
    env.update({"NOTIFY_DATA_DIR": str(data_dir), "NOTIFY_PORT": str(_free_port())})
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _engine(env: dict[str, str], *args: str) -> Any:
    with trio.fail_after(120):
        return await trio.run_process(
            [sys.executable, "-m", "engine", *args],
            env=env,
            cwd=REPO,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def _demo_until_ready(env: dict[str, str], log: Path) -> Any:
    """``python -m engine demo`` in a process group of its own (a terminal's job)."""
    with log.open("ab") as err:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "engine", "demo"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    assert process.stdout is not None
    out = b""
    with trio.fail_after(120):
        while b"demo is ready" not in out:
            chunk = await process.stdout.receive_some()
            assert chunk, "the demo exited before its banner (see its log)"
            out += chunk
    return process


async def _ctrl_c(process: Any) -> int:
    """What a terminal's Ctrl-C does: SIGINT to every process of the foreground group."""
    os.killpg(process.pid, signal.SIGINT)
    with trio.fail_after(60):
        return int(await process.wait())


async def test_ctrl_c_stops_the_engine_and_its_embedded_database(
    data_parent: Path,
) -> None:
    data = data_parent / "data"
    log = data_parent / "demo.log"
    process = await _demo_until_ready(_env(data), log)
    assert _processes_naming(data), "the embedded server should run while the demo does"
    assert await _ctrl_c(process) == 0, log.read_text()
    assert _processes_naming(data) == []
    last = json.loads(log.read_text().strip().splitlines()[-1])
    assert (last["event"], last["exit_code"]) == ("stopped", 0)


async def test_keep_running_then_db_status_and_db_stop(data_parent: Path) -> None:
    data = data_parent / "data"
    env = _env(data, NOTIFY_EMBEDDED_KEEP_RUNNING="true")
    process = await _demo_until_ready(env, data_parent / "demo.log")
    assert await _ctrl_c(process) == 0
    status = await _engine(env, "db", "status")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["running"] is True
    assert any(str(shown["pid"]) in line.split()[0] for line in _processes_naming(data))
    stopped = await _engine(env, "db", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["stopped"] is True
    assert _processes_naming(data) == []
    status = await _engine(env, "db", "status")
    assert (status.returncode, json.loads(status.stdout)["running"]) == (1, False)


def _passwd() -> str:
    return Path("/etc/passwd").read_text()


async def test_a_data_folder_under_a_700_parent_leaves_the_parent_alone(
    data_parent: Path,
) -> None:
    parent = data_parent / "private"
    parent.mkdir(mode=0o700)
    parent.chmod(0o700)
    users = _passwd()
    result = await _engine(_env(parent / "data"), "migrate")
    modes = [folder.stat().st_mode & 0o777 for folder in (parent, data_parent)]
    assert modes == [0o700, 0o711]  # the parent, nor the folder above it, widened
    assert _passwd() == users  # no system user added
    if os.geteuid() == 0:
        # PostgreSQL runs unprivileged, and that user cannot reach the folder: one line.
        stderr = result.stderr.decode()
        assert result.returncode == 4, stderr
        (line,) = [line for line in stderr.splitlines() if not line.startswith("{")]
        assert line.startswith("error: the embedded PostgreSQL runs as user"), line
        assert f"the folder {parent} has mode 700" in line, line
    else:
        assert result.returncode == 0, result.stderr
    assert _processes_naming(parent) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the server's user is chosen only as root")
async def test_as_root_a_700_parent_owned_by_the_server_user_works_unchanged(
    data_parent: Path,
) -> None:
    parent = data_parent / "private"
    parent.mkdir(mode=0o700)
    nobody = pwd.getpwnam("nobody")
    os.chown(parent, nobody.pw_uid, nobody.pw_gid)
    env = _env(parent / "data")
    # A data folder belonging to the server's user: the server runs as that user.
    (parent / "data").mkdir()
    os.chown(parent / "data", nobody.pw_uid, nobody.pw_gid)
    users = _passwd()
    result = await _engine(env, "migrate")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["applied"]
    assert parent.stat().st_mode & 0o777 == 0o700
    assert _passwd() == users
    assert (parent / "data" / "pg").stat().st_uid == nobody.pw_uid
    # migrate started the server, so it stopped it.
    assert _processes_naming(parent) == []


async def test_a_busy_port_is_one_line_naming_the_port_and_its_variable(
    database_url: str, tmp_path: Path
) -> None:
    await reset_database(database_url)  # no API key sealed with another test's secret key
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = _env(tmp_path / "data", DATABASE_URL=database_url, NOTIFY_PORT=str(port))
        env["NOTIFY_LOG_LEVEL"] = "WARNING"
        result = await _engine(env, "serve")
    stderr = result.stderr.decode().splitlines()
    assert result.returncode == 3, stderr
    errors = [line for line in stderr if not line.startswith("{")]
    assert errors == [
        f"error: cannot listen on 127.0.0.1:{port}: port {port} is already in use (another"
        " engine, or another program); set NOTIFY_PORT to another port (or stop what holds"
        " it)"
    ]


async def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    port = _free_port()  # nobody listens there
    url = f"postgresql://someone:secret@127.0.0.1:{port}/notify"
    env = _env(tmp_path / "data", DATABASE_URL=url, NOTIFY_LOG_LEVEL="WARNING")
    result = await _engine(env, "serve")
    stderr = result.stderr.decode()
    assert result.returncode == 4, stderr
    assert "Traceback" not in stderr
    assert "secret" not in stderr  # the password is not shown
    (line,) = [line for line in stderr.splitlines() if not line.startswith("{")]
    assert line.startswith(
        f"error: cannot reach the database postgresql://someone@127.0.0.1:{port}/notify: "
    ), line
    assert "DATABASE_URL" in line


async def test_a_second_node_without_the_first_ones_secret_key_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    await reset_database(database_url)
    first = _env(tmp_path / "first", DATABASE_URL=database_url, NOTIFY_LOG_LEVEL="WARNING")
    process = await _demo_until_ready(first, tmp_path / "first.log")  # stores an API key
    assert await _ctrl_c(process) == 0
    # The second node has a data folder of its own: it would generate another key.
    second = _env(tmp_path / "second", DATABASE_URL=database_url, NOTIFY_LOG_LEVEL="WARNING")
    result = await _engine(second, "serve")
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    (line,) = [line for line in stderr.splitlines() if not line.startswith("{")]
    assert line.startswith("error: NOTIFY_SECRET_KEY does not open the API keys stored"), line
    # With the first node's key it gets past that check (to a port held here: exit 3).
    key = (tmp_path / "first" / "secret_key").read_text()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = str(held.getsockname()[1])
        again = await _engine({**second, "NOTIFY_SECRET_KEY": key, "NOTIFY_PORT": busy}, "serve")
    assert again.returncode == 3, again.stderr

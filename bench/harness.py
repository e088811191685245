"""The end-to-end benchmark's harness: child processes, /proc figures and the database.

Rules:
- Every child runs from the repository root with its output in ``<folder>/<name>.log``;
  ``Processes.stop_all`` (called from a ``finally``) sends SIGTERM, waits 15 s, then kills.
- Every wait is bounded (``listening_port`` times out; so does ``stop_all``).
- The database is a scratch database on ``DATABASE_URL``, dropped afterwards, or an
  embedded server in the run's temporary folder, stopped afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Failed(Exception):
    """The benchmark could not run (a process died, a step timed out)."""


# -- processes ------------------------------------------------------------------------------
class Processes:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs: list[Any] = []  # closed by stop_all, once their processes are gone

    def start(
        self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> Any:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        self.logs.append(log)
        proc = subprocess.Popen(
            args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        self.running.append((name, proc))
        return proc

    def listening_port(self, name: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in (self.folder / f"{name}.log").read_text().splitlines():
                if line.startswith('{"listening"'):
                    return int(json.loads(line)["listening"])
            if proc.poll() is not None:
                raise Failed(f"{name} exited: {self.tail(name)}")
            time.sleep(0.05)
        raise Failed(f"{name} did not start within {timeout} s")

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.folder / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def stop_all(self) -> None:
        for _, proc in reversed(self.running):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in reversed(self.running):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for log in self.logs:
            log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stable_port() -> int:
    """A free port below the kernel's ephemeral range, for a server that must come back on
    the same port after a restart: a port from ``free_port`` can meanwhile be handed to any
    outgoing connection (the engine's own database connections included), and the restart
    then fails with "Address already in use" (seen in CI)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10_000, max(10_001, low))
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port
    return free_port()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (NOTIFY_WORKERS: the engine's worker processes)."""
    found, queue = [], [pid]
    while queue and len(found) < 256:
        current = queue.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                queue.extend(int(c) for c in (task / "children").read_text().split())
    return found


def proc_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants."""
    return sum(proc_cpu_split(pid))


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """CPU seconds in user and in system mode of ``pid`` and its live descendants."""
    user = system = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
            user, system = user + int(fields[11]), system + int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def proc_status_mb(pid: int, field: str) -> float:
    """A /proc status figure (e.g. VmHWM) in MB: the largest over ``pid``'s process tree."""
    best = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    best = max(best, int(line.split()[1]) / 1024)
    return best


# -- database -------------------------------------------------------------------------------
@contextlib.contextmanager
def database(folder: Path) -> Iterator[str]:
    """A scratch database on DATABASE_URL (dropped after), or an embedded server (stopped)."""
    import asyncio

    import asyncpg

    base = os.environ.get("DATABASE_URL")
    if not base:
        from engine.store.embedded import Embedded

        if os.geteuid() == 0:
            # Our own temporary folder (mkdtemp: 0700): the server's unprivileged user must
            # traverse it (engine.store.embedded never opens up a folder itself).
            folder.chmod(0o711)
        server = Embedded(folder / "pg")
        try:
            yield server.start()[0]
        finally:
            server.stop()
        return
    name = f"notify_e2e_{secrets.token_hex(5)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    from engine.store.dsn import with_database

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield with_database(base, name)
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def sql(dsn: str, query: str, *args: Any) -> list[Any]:
    import asyncio

    import asyncpg

    async def go() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(go())

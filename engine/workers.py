"""Several engine processes on one machine: ``NOTIFY_WORKERS=N python -m engine serve``.

One trio loop runs on one core, so a machine's other cores are used by more processes, not
threads. The parent starts the embedded PostgreSQL (when ``DATABASE_URL`` is unset, so
children never race to initialise it), then N children of ``python -m engine serve``, each
binding the API port (and ``NOTIFY_ADMIN_PORT`` when set) with ``SO_REUSEPORT`` (the
kernel spreads connections) and, when ``NOTIFY_METRICS_PORT`` is set, its own metrics port
(base + index) for Prometheus.
Children coordinate through PostgreSQL only (recovery ownership, heartbeats).

The parent forwards SIGTERM / SIGINT to every child (each drains gracefully) and exits with
the worst child status; if a child dies, the others are stopped too, so a supervisor
(systemd, Kubernetes) sees the failure and restarts the whole set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from engine.config import Settings

CHILD_MARKER = "NOTIFY_WORKER_INDEX"


def is_worker_child() -> bool:
    return CHILD_MARKER in os.environ


def child_environment(settings: Settings, base: dict[str, str], index: int) -> dict[str, str]:
    env = {**base, CHILD_MARKER: str(index), "NOTIFY_SECRET_KEY": settings.secret_key,
           "NOTIFY_ADMIN_TOKEN": settings.admin_token}  # fmt: skip
    if settings.metrics_port:
        env["NOTIFY_METRICS_PORT"] = str(settings.metrics_port + index)
    return env


def run_workers(settings: Settings) -> int:
    if settings.port == 0:
        raise SystemExit("NOTIFY_WORKERS > 1 needs a fixed NOTIFY_PORT to share")
    if settings.admin_port == 0:
        raise SystemExit("NOTIFY_WORKERS > 1 needs a fixed NOTIFY_ADMIN_PORT to share")
    base = dict(os.environ)
    if not settings.database_url:
        from engine.store.embedded import start_embedded

        base["DATABASE_URL"] = start_embedded(settings.data_dir)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"],
            env=child_environment(settings, base, index),
        )
        for index in range(settings.workers)
    ]

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # This parent runs no trio loop (cli.py calls it before any trio.run): it only waits
    # on its children, so plain blocking sleeps are the simplest correct poll here.
    while any(child.poll() is None for child in children):
        if any(child.returncode not in (None, 0) for child in children):
            forward(signal.SIGTERM, None)  # one died: stop the set, let the supervisor act
            deadline = time.monotonic() + settings.drain_seconds + 5
            while time.monotonic() < deadline and any(c.poll() is None for c in children):
                time.sleep(0.1)
            for child in children:
                if child.poll() is None:
                    child.kill()
            break
        time.sleep(0.2)
    codes = [child.wait() for child in children]
    return max((abs(code) for code in codes), default=0)

"""Several engine processes on one machine: ``NOTIFY_WORKERS=N python -m engine serve``.

One trio loop runs on one core, so a machine's other cores are used by more processes, not
threads. The parent starts the embedded PostgreSQL (when ``DATABASE_URL`` is unset, so
children never race to initialise it), then N children of ``python -m engine serve``, each
binding the API port (and ``NOTIFY_ADMIN_PORT`` when set) with ``SO_REUSEPORT`` (the
kernel spreads connections) and, when ``NOTIFY_METRICS_PORT`` is set, its own metrics port
(base + index) for Prometheus.
Children coordinate through PostgreSQL only (recovery ownership, heartbeats).

Supervision, so that a process manager (systemd, Kubernetes) can trust the set:

- The parent forwards SIGTERM / SIGINT to every child once (each drains gracefully) and
  exits with the worst child status.
- The parent polls every child: when any child exits on its own (crash, OOM kill, SIGKILL),
  it stops the others (SIGTERM, then SIGKILL after ``NOTIFY_DRAIN_SECONDS`` + 5 s) and exits
  non-zero, so the supervisor restarts the whole set rather than leave it at part capacity.
- When the parent dies, even by SIGKILL, its children drain and exit instead of serving the
  port as orphans (a restarted parent would add a second set). Two mechanisms, because each
  covers a gap of the other:
  * a pipe whose write end only the parent holds: the kernel closes it whatever killed the
    parent, and each child's trio task waiting on the read end sees EOF at once and starts
    the drain. It is portable, has no fork/exit race (the pipe exists before the child) and
    costs no polling; a watch of ``os.getppid()`` would have to poll, and under a subreaper
    (tini, ``systemd --user``) the new parent pid is not 1.
  * ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (Linux), set at child start through ctypes rather
    than in ``preexec_fn`` (unsafe once a thread exists): the kernel signals the child even
    while its loop is not running yet (start-up, migrations) or is stuck. The parent forks
    from its only thread, so the signal is not sent early on a thread's exit; a parent that
    died before the ``prctl`` is caught by comparing ``os.getppid()`` with the pid it gave.
- Every wait is bounded: the parent's poll is 0.2 s, a stopped set is killed after the drain
  deadline, and reaping after SIGKILL waits at most 5 s.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import trio

from engine.config import Settings

log = logging.getLogger("engine.workers")

CHILD_MARKER = "NOTIFY_WORKER_INDEX"
PARENT_PID = "NOTIFY_WORKER_PARENT_PID"
PARENT_PIPE = "NOTIFY_WORKER_PARENT_FD"  # read end; EOF means the parent is gone
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def is_worker_child() -> bool:
    return CHILD_MARKER in os.environ


def child_environment(
    settings: Settings, base: dict[str, str], index: int, parent_pipe: int
) -> dict[str, str]:
    env = {**base, CHILD_MARKER: str(index), "NOTIFY_SECRET_KEY": settings.secret_key,
           "NOTIFY_ADMIN_TOKEN": settings.admin_token, PARENT_PID: str(os.getpid()),
           PARENT_PIPE: str(parent_pipe)}  # fmt: skip
    if settings.metrics_port:
        env["NOTIFY_METRICS_PORT"] = str(settings.metrics_port + index)
    return env


def die_with_parent() -> None:
    """In a worker child, before anything else: SIGTERM me when the parent dies (Linux)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != int(os.environ[PARENT_PID]):
        raise SystemExit("the NOTIFY_WORKERS parent exited before this worker started")
    os.set_inheritable(int(os.environ[PARENT_PIPE]), False)  # not for our own subprocesses


async def watch_parent(shutdown: trio.Event) -> None:
    """In a worker child: start the drain when the parent's pipe reaches EOF. Returns once
    the drain starts, whatever started it: the server's nursery waits for this task."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_drain_when_parent_gone, shutdown)
        await shutdown.wait()
        nursery.cancel_scope.cancel()


async def _drain_when_parent_gone(shutdown: trio.Event) -> None:
    await trio.lowlevel.wait_readable(int(os.environ[PARENT_PIPE]))
    log.warning("the NOTIFY_WORKERS parent is gone: draining")
    shutdown.set()


def run_workers(settings: Settings) -> int:
    if settings.port == 0:
        raise SystemExit("NOTIFY_WORKERS > 1 needs a fixed NOTIFY_PORT to share")
    if settings.admin_port == 0:
        raise SystemExit("NOTIFY_WORKERS > 1 needs a fixed NOTIFY_ADMIN_PORT to share")
    base = dict(os.environ)
    if not settings.database_url:
        from engine.store.embedded import start_embedded

        base["DATABASE_URL"] = start_embedded(settings.data_dir)
    # Non-inheritable by default: only the read end goes to the children (pass_fds), so
    # the write end, held by this process alone, closes exactly when this process ends.
    parent_pipe, _parent_alive = os.pipe()
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"],
            env=child_environment(settings, base, index, parent_pipe),
            pass_fds=(parent_pipe,),
        )
        for index in range(settings.workers)
    ]
    os.close(parent_pipe)
    stop_requested = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        if stop_requested:
            return  # a second signal would end a draining child's graceful shutdown
        stop_requested = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # This parent runs no trio loop (cli.py calls it before any trio.run): it only waits
    # on its children, so plain blocking sleeps are the simplest correct poll here.
    # Every child is polled on every round (not only up to the first live one).
    while not stop_requested and all(child.poll() is None for child in children):
        time.sleep(0.2)
    one_died = not stop_requested
    if one_died:
        died = {
            i: child.returncode for i, child in enumerate(children) if child.returncode is not None
        }
        log.error("a worker exited on its own: stopping the set", extra={"exit_codes": died})
        forward(signal.SIGTERM, None)
    deadline = time.monotonic() + settings.drain_seconds + 5
    while time.monotonic() < deadline and any(c.poll() is None for c in children):
        time.sleep(0.1)
    for child in children:
        if child.poll() is None:
            child.kill()
    codes = [child.wait(timeout=5) for child in children]
    worst = max((abs(code) for code in codes), default=0)
    return max(worst, 1) if one_died else worst

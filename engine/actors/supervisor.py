"""Supervision: restart a crashed actor with backoff, keeping its mailbox.

An actor's mailbox belongs to the actor object, not to its ``run`` call, so messages
queued when ``run`` crashes are still there when it runs again. The first start reports
readiness through ``task_status``; restarts are counted in ``notify_actor_restarts_total``.
Cancellation is never treated as a crash. A crash because the database cannot be reached
(``DatabaseUnavailable``) is restarted the same way but logs nothing: the store logs the
outage once, and a traceback per restart would flood the log for its whole length.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from engine.metrics import ACTOR_RESTARTS
from engine.store.errors import only_unavailability

log = logging.getLogger("engine.supervisor")

Runner = Callable[..., Awaitable[Any]]


async def supervise(
    kind: str,
    run: Runner,
    *,
    min_backoff: float = 0.1,
    max_backoff: float = 10.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``run(task_status=...)`` forever, restarting it after an exception."""
    backoff = min_backoff
    first = True
    while True:
        started_at = trio.current_time()
        try:
            if first:
                async with trio.open_nursery() as nursery:
                    await nursery.start(run)
                    first = False
                    task_status.started()
            else:
                await run()
            return  # a clean return means the actor was told to stop
        except Exception as exc:
            if first:
                raise  # failing to start is a configuration error, not a crash to retry
            ACTOR_RESTARTS.labels(kind).inc()
            if only_unavailability(exc):
                log.debug("actor stopped: database unavailable", extra={"actor": kind})
            else:
                log.exception(
                    "actor crashed; restarting", extra={"actor": kind, "backoff": backoff}
                )
        if trio.current_time() - started_at > 60:
            backoff = min_backoff  # it ran fine for a while: start the backoff over
        await trio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)

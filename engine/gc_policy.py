"""The garbage collector's settings for a serving process.

Why: in ``bench/api.py`` with Python's defaults (700, 10, 10) the cyclic collector took
about 8% of the engine's CPU, and full collections paused the event loop for up to 70 ms,
straight into the API's p99. A notification's objects live for tens to hundreds of
milliseconds (group commit, provider linger, receipts), long enough to survive young
collections that run every few hundred allocations and be promoted, so old generations
filled and were scanned again and again, along with every module, botocore model and
template loaded at start.

Rules:
- Once the engine is up, everything alive is frozen (``gc.freeze``): start-up objects are
  never scanned again. They are not garbage and never will be.
- The young generation collects every ``young`` net allocations instead of 700, so most
  per-request objects are already freed (by reference counting) when a collection runs.
- ``young = 0`` keeps Python's defaults (the setting ``NOTIFY_GC_YOUNG_THRESHOLD``).
- Every collection's pause is measured (``notify_gc_pause_seconds`` by generation). Long
  young collections mean objects caught in reference cycles: that is how dead asyncio
  timers and self-referencing response parsers were found (80-110 ms pauses).
"""

from __future__ import annotations

import gc
import time
from typing import Any

import trio

from engine.metrics import GC_PAUSE

_started: list[float] = [0.0]
_PAUSES = [GC_PAUSE.labels(str(generation)) for generation in range(3)]


def _time_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _PAUSES[info["generation"]].observe(time.perf_counter() - _started[0])


async def watch_pauses(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Record every collection's pause while this task runs (the engine's nursery owns it)."""
    gc.callbacks.append(_time_collection)
    try:
        task_status.started()
        await trio.sleep_forever()
    finally:
        gc.callbacks.remove(_time_collection)


def tune_for_serving(young: int) -> None:
    if young <= 0:
        return
    gc.collect()  # free start-up garbage before freezing what remains
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)

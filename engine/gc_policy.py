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
"""

from __future__ import annotations

import gc


def tune_for_serving(young: int) -> None:
    if young <= 0:
        return
    gc.collect()  # free start-up garbage before freezing what remains
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)

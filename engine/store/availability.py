"""Whether the database answers, as the store last saw it; the door every store call uses.

Rules:
- Every statement of the store (the pipe, the group-commit writes, ping, migrations) runs
  through ``Availability.call``, which wraps the asyncio thread's ``call``: an error that
  means the database is unreachable (``engine.store.errors.is_unavailability``) is raised
  as ``DatabaseUnavailable``; every other result or error passes unchanged.
- The state is "available" or "unavailable since T" (monotonic). It flips to unavailable
  on the first such failure and back on the first call that the server answers (a
  result, or an error of its own such as a constraint violation).
- Exactly one WARNING line per change (and the ``notify_database_up`` gauge): an outage
  with hundreds of failed calls logs two lines, never a line per call. Callers log
  nothing more for ``DatabaseUnavailable`` (the API answers 503, actors back off).
- A call that started before the last change cannot undo it: a failure that began while
  the database was still down and ends after it came back (or a success that began
  before it went down) says nothing about now, so no change flaps the state.
- Cost on the hot path: one clock read and one attribute test per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from engine.metrics import DATABASE_UP
from engine.store.asyncio_thread import AsyncioThread
from engine.store.errors import DatabaseUnavailable, is_unavailability

log = logging.getLogger("engine.store")

T = TypeVar("T")


class Availability:
    """The database's state (see the module rules) and the store's guarded ``call``."""

    def __init__(self, db: AsyncioThread, clock: Callable[[], float] = time.monotonic) -> None:
        self.thread = db
        self._clock = clock
        # None while available; else the clock reading when it was first seen down.
        self.down_since: float | None = None
        self._changed_at = clock()
        DATABASE_UP.set(1)

    @property
    def available(self) -> bool:
        return self.down_since is None

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        started = self._clock()
        try:
            result = await self.thread.call(fn, *args)
        except Exception as exc:
            if is_unavailability(exc):
                self.failed(exc, started)
                if isinstance(exc, DatabaseUnavailable):
                    raise
                raise DatabaseUnavailable(f"database unavailable: {_describe(exc)}") from exc
            if isinstance(exc, asyncpg.PostgresError):
                self.answered(started)  # the server answered: it is there
            raise
        if self.down_since is not None:
            self.answered(started)
        return result

    def failed(self, exc: BaseException, started: float) -> None:
        if self.down_since is not None or started < self._changed_at:
            return
        self.down_since = self._changed_at = self._clock()
        DATABASE_UP.set(0)
        log.warning("database unavailable", extra={"error": _describe(exc)})

    def answered(self, started: float) -> None:
        if self.down_since is None or started < self._changed_at:
            return
        now = self._clock()
        down_for = now - self.down_since
        self.down_since = None
        self._changed_at = now
        DATABASE_UP.set(1)
        log.warning("database available again", extra={"down_seconds": round(down_for, 3)})


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]

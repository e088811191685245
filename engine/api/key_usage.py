"""When each API key was last used, without a database write on a request's path.

Rules:
- ``seen`` is the only thing a request does: one clock read and one dict store (no I/O,
  no lock). The time is the process's wall clock, in seconds.
- ``run`` writes what was seen every ``every`` seconds (one statement for every key,
  ``engine.store.keys.Keys.mark_used``): so a key is written at most once per ``every``
  seconds by a process, however busy it is; a key seen again since its last write is
  written again at the next round. A failed write keeps the times for the next round.
- ``last_used`` answers with this process's memory when it is newer than the stored time
  (the console shows a key's use at once to the process that served it; other processes
  see it after the next write).
- At shutdown ``flush`` writes what is left (the engine calls it while stopping).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from engine.store.keys import Keys

log = logging.getLogger("engine.key_usage")


class KeyUsage:
    __slots__ = ("_seen", "_written", "every")

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._seen: dict[uuid.UUID, float] = {}  # key id -> last use (epoch seconds)
        self._written: dict[uuid.UUID, float] = {}  # key id -> the last use written

    def seen(self, key_id: uuid.UUID) -> None:
        """A request was authenticated with this key (the hot path: keep it this small)."""
        self._seen[key_id] = time.time()

    def last_used(self, key_id: uuid.UUID, stored: dt.datetime | None) -> dt.datetime | None:
        """The later of the stored time and this process's memory."""
        mine = self._seen.get(key_id)
        if mine is None:
            return stored
        at = dt.datetime.fromtimestamp(mine, dt.UTC)
        return at if stored is None or at > stored else stored

    def _pending(self) -> list[tuple[uuid.UUID, float]]:
        """The keys used since their last write, with their last use."""
        return [(k, at) for k, at in list(self._seen.items()) if self._written.get(k) != at]

    async def flush(self, keys: Keys) -> int:
        """Write the pending last uses; returns how many keys were written."""
        due = self._pending()
        if not due:
            return 0
        await keys.mark_used([(k, dt.datetime.fromtimestamp(at, dt.UTC)) for k, at in due])
        self._written.update(due)
        return len(due)

    async def run(
        self, keys: Keys, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.every)
            try:
                await self.flush(keys)
            except Exception:  # the database away: the times wait for the next round
                log.warning("api key last-used times not written; retrying next round")

"""When each API key was last used, without a database write on a request's path.

Rules:
- ``seen`` is the only thing a request does: it adds the key's id (its 128-bit integer,
  whose hash is cached by Python, unlike a UUID's) to a set: no clock read, no I/O, no lock
  (~40 ns; a clock read and a dict keyed by UUID cost ~300 ns on our machine).
- Every second ``tick`` stamps the keys seen since the last tick with the time: a last use
  is known to the second.
- ``run`` writes what was stamped every ``every`` seconds (one statement for every key,
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
    __slots__ = ("_seen", "_used", "_written", "every")

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._used: set[int] = set()  # keys seen since the last tick (UUID.int)
        self._seen: dict[int, float] = {}  # key -> last use (epoch seconds)
        self._written: dict[int, float] = {}  # key -> the last use written

    def seen(self, key_id: uuid.UUID) -> None:
        """A request was authenticated with this key (the hot path: keep it this small)."""
        self._used.add(key_id.int)

    def tick(self, now: float) -> None:
        """Stamp the keys seen since the last tick with ``now``."""
        used, self._used = self._used, set()
        for key in used:
            self._seen[key] = now

    def last_used(self, key_id: uuid.UUID, stored: dt.datetime | None) -> dt.datetime | None:
        """The later of the stored time and this process's memory."""
        key = key_id.int
        mine = time.time() if key in self._used else self._seen.get(key)
        if mine is None:
            return stored
        at = dt.datetime.fromtimestamp(mine, dt.UTC)
        return at if stored is None or at > stored else stored

    async def flush(self, keys: Keys) -> int:
        """Write the last uses not written yet; returns how many keys were written."""
        self.tick(time.time())
        due = [(k, at) for k, at in list(self._seen.items()) if self._written.get(k) != at]
        if not due:
            return 0
        await keys.mark_used(
            [(uuid.UUID(int=k), dt.datetime.fromtimestamp(at, dt.UTC)) for k, at in due]
        )
        self._written.update(due)
        return len(due)

    async def run(
        self, keys: Keys, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        last_flush = trio.current_time()
        while True:
            await trio.sleep(1.0)
            self.tick(time.time())
            if trio.current_time() - last_flush < self.every:
                continue
            last_flush = trio.current_time()
            try:
                await self.flush(keys)
            except Exception:  # the database away: the times wait for the next round
                log.warning("api key last-used times not written; retrying next round")

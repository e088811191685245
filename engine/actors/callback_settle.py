"""Callback bookkeeping: what becomes of a claimed row once its actor is done with it, and
the endpoints' last outcomes a team can see. The CallbackManager (``callbacks.py``) owns
one Settler and hands it what its actors report (``done``, ``release``, ``observed``).

Rules:
- Delivered / given-up rows are deleted in batches (``writer``: one transaction carries
  many callbacks, gathered for 20 ms); a crash before the delete resends them
  (at-least-once: GC warns receivers that a notification can get several callbacks).
  A row put back for a retry (``release``) goes the same way; ``release_now`` writes at
  once, so no later row of its notification can be claimed meanwhile (ordering).
- Every write (delete, put back) is conditional on the row's owner (fencing,
  ``engine.domain.ownership``): a row another process claimed meanwhile is left alone.
- Backpressure, never loss: a full bookkeeping channel slows the senders down. Dropping
  an op instead would leave the row owned by this live worker: never claimed again until
  a restart, which would then resend every such callback at once.
- A database outage: a batch is tried again a second apart (``_SETTLE_ATTEMPTS`` times)
  before it is given up; its rows stay ours and are claimed again after a restart.
- State a team can see: each answer and failure is noted in memory (``observed``: a dict
  write, no I/O on the delivery path) and every ``outcomes_every`` seconds the endpoints'
  last success and last failure are written (``store.callbacks.record_outcomes``; with
  many processes the latest wins), for the admin API's ``GET .../callback``. A round that
  meets an outage keeps its outcomes for the next (newer wins).
- ``final_flush`` (a stop): the outcomes, then the ops still queued (three tries: within
  the stop's 10 s), then every row this registration still owns is released.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import trio

from engine.actors.callback_actor import Key
from engine.batching import gather
from engine.domain import callbacks as cb
from engine.store.errors import BACKOFF_S, DatabaseUnavailable
from engine.store.store import Store

log = logging.getLogger("engine.callbacks")

# (seq, attempts or -1 for done, delay, owner)
Op = tuple[int, int, float, uuid.UUID | None]
# Bookkeeping that fails is tried again, a second apart, this many times (an outage).
_SETTLE_ATTEMPTS = 120


class Settler:
    def __init__(self, store: Store, wake: Callable[[], None], outcomes_every: float) -> None:
        self.store = store
        self._wake = wake  # the manager's claimer: rows were put back
        self._ops_send, self._ops_recv = trio.open_memory_channel[Op](20_000)
        # Each endpoint's last success and failure seen here: [success, failure, what failed]
        # (wall-clock seconds), written every ``outcomes_every`` seconds.
        self._outcomes: dict[Key, list[Any]] = {}
        self._outcomes_every = outcomes_every

    # -- the rows ----------------------------------------------------------------------
    async def done(self, owed: cb.Owed) -> None:
        await self._ops_send.send((owed.seq, -1, 0.0, owed.owner))

    async def release(self, owed: cb.Owed, attempts: int, delay: float) -> None:
        await self._ops_send.send((owed.seq, attempts, delay, owed.owner))

    async def release_now(self, owed: cb.Owed, attempts: int, delay: float) -> None:
        await self.store.callbacks.retry_later([owed.seq], [attempts], [delay], [owed.owner])

    async def writer(self) -> None:
        async for first in self._ops_recv:
            ops = [first]
            # Bookkeeping only (a crash before the delete resends, at-least-once): gather
            # long enough that one transaction carries many callbacks, not a handful.
            await gather(self._ops_recv, ops, linger=0.02, limit=5000)
            await self.apply(ops)

    async def apply(self, ops: Sequence[Op], *, tries: int = _SETTLE_ATTEMPTS) -> None:
        """Settle ``ops``, trying again while the database fails (an outage): a row
        whose settlement is dropped stays owned by this live process, and nobody would
        deliver it again before this process stops (fencing)."""
        if not ops:
            return
        deleted = [(seq, owner) for seq, attempts, _, owner in ops if attempts < 0]
        released = [op for op in ops if op[1] >= 0]
        for attempt in range(tries):
            try:
                with trio.CancelScope(shield=True):
                    await self.store.callbacks.settle(deleted, released)
                break
            except DatabaseUnavailable:
                pass  # the store has logged the outage once
            except Exception:
                if attempt == 0:
                    log.exception("callback bookkeeping failed", extra={"rows": len(ops)})
            if attempt + 1 == tries:
                # The rows stay owned by us: claimed again (and resent) after a restart.
                log.error("callback bookkeeping given up", extra={"rows": len(ops)})
                return
            await trio.sleep(BACKOFF_S)
        if released:
            self._wake()

    # -- what a team can see -------------------------------------------------------------
    def observed(self, key: Key, failure: str | None) -> None:
        """An endpoint answered (``failure`` None) or failed: kept for ``state``."""
        seen = self._outcomes.get(key)
        if seen is None:
            seen = self._outcomes[key] = [None, None, None]
        if failure is None:
            seen[0] = time.time()
        else:
            seen[1], seen[2] = time.time(), failure

    async def outcome_writer(self) -> None:
        while True:
            await trio.sleep(self._outcomes_every)
            await self.write_outcomes()

    async def write_outcomes(self) -> None:
        if not self._outcomes:
            return
        seen, self._outcomes = self._outcomes, {}
        stamp = partial(dt.datetime.fromtimestamp, tz=dt.UTC)
        rows = [
            (key[0], key[1] if key[2] is None else key[2], s and stamp(s), f and stamp(f), what)
            for key, (s, f, what) in seen.items()
        ]
        origin = [key[2] is not None for key in seen]
        try:
            await self.store.callbacks.record_outcomes(
                [r for r, o in zip(rows, origin, strict=True) if not o]
            )
            await self.store.callbacks.record_origin_outcomes(
                [r for r, o in zip(rows, origin, strict=True) if o]
            )
        except DatabaseUnavailable:
            for key, value in seen.items():  # keep them for the next round (newer wins)
                self._outcomes.setdefault(key, value)

    # -- a stop ----------------------------------------------------------------------------
    async def final_flush(self, owner: uuid.UUID) -> None:
        with trio.move_on_after(2):
            await self.write_outcomes()
        ops = []
        while True:
            try:
                ops.append(self._ops_recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        if ops:
            await self.apply(ops, tries=3)  # within the stop's 10 s
        await self.store.callbacks.release_owned(owner)

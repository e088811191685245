"""ReceiptsActor: turns provider receipts into batched status updates.

Rules:
- A receipt names the provider's reference, not our id, so updates join on
  ``provider_reference`` (``Store.apply_receipts``, group-committed).
- A receipt can beat the commit of the reference it names (fast providers, busy store).
  The store keeps every unmatched receipt in the database before ``apply_receipts``
  returns (``engine.store.unmatched_receipts``), so a receipt acknowledged to SNS or
  deleted from SQS survives a kill -9; nothing is held in memory.
- A sweep applies the kept receipts once their reference is committed: soon after this
  process kept one (0.2, 1, 5, 15, 40 and 60 s after), at start, and every
  ``sweep_every`` seconds in any case (another process, or a crash, may have left some).
  A sweep that fails (database down) is logged and tried again at the next step.
- Kept receipts older than ``expire_after`` (72 h, when GC gives up on `sending` rows)
  are dropped and counted (``notify_receipts_expired_total``).
- There is no "ask the provider" fallback for a `sending` row whose receipt never comes:
  neither SES nor SNS (SMS) has a per-message status query (SES reports only through event
  publishing or notifications, SNS SMS only through delivery-status logs), so such rows
  keep GC's 72 h rule.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence

import trio

from engine.batching import gather
from engine.metrics import RECEIPTS_EXPIRED, observe_mailbox
from engine.providers.base import Receipt
from engine.store.notifications import StatusChange
from engine.store.store import Store

log = logging.getLogger("engine.receipts")

OnChanges = Callable[[Sequence[StatusChange]], Awaitable[None]]
OnComplaints = Callable[[Sequence[Receipt]], Awaitable[None]]
SWEEP_DELAYS = (0.2, 1.0, 5.0, 15.0, 40.0, 60.0)
SWEEP_EVERY = 60.0
EXPIRE_AFTER = 72 * 3600.0


class ReceiptsActor:
    def __init__(
        self,
        store: Store,
        on_changes: OnChanges,
        on_complaints: OnComplaints,
        *,
        mailbox: int = 20_000,
        max_batch: int = 1000,
        linger: float = 0.005,
        sweep_every: float = SWEEP_EVERY,
        expire_after: float = EXPIRE_AFTER,
    ) -> None:
        self._store = store
        self._on_changes = on_changes
        self._on_complaints = on_complaints
        self._max_batch = max_batch
        self._linger = linger
        self._sweep_every = sweep_every
        self._expire_after = expire_after
        self.send_channel, self._recv = trio.open_memory_channel[Receipt](mailbox)
        self._kept = trio.Event()  # set when this process kept an unmatched receipt
        self.expired = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sweep_loop)
            task_status.started()
            async with self._recv:
                async for first in self._recv:
                    batch = [first]
                    await gather(self._recv, batch, linger=self._linger, limit=self._max_batch)
                    observe_mailbox("receipts", self._recv.statistics())
                    await self._apply(batch)
            nursery.cancel_scope.cancel()

    async def submit(self, receipts: Sequence[Receipt], within: float | None = None) -> None:
        """Apply receipts now and return once they are committed or, unmatched, kept
        (durable sources such as SNS over HTTP and SQS acknowledge only after this).
        ``within``: ``trio.TooSlowError`` once that many seconds have passed (the store's
        watchdog bounds the status receipts' wait: no cancel scope per receipt)."""
        if receipts:
            await self._apply(list(receipts), within)

    async def _apply(self, batch: list[Receipt], within: float | None = None) -> None:
        complaints = [r for r in batch if r.complaint]
        statuses = [r for r in batch if not r.complaint]
        if complaints:
            if within is None:
                await self._on_complaints(complaints)
            else:
                with trio.fail_after(within):  # complaints are rare: a cancel scope will do
                    await self._on_complaints(complaints)
        if not statuses:
            return
        matched, changes = await self._store.apply_receipts(statuses, within)
        if changes:
            await self._on_changes(changes)
        if not all(matched):
            self._kept.set()

    async def sweep(self) -> int:
        """Apply the kept receipts whose reference is now committed; returns how many."""
        result = await self._store.unmatched_receipts.sweep(
            limit=self._max_batch, expire_after_s=self._expire_after
        )
        if result.changes:
            await self._on_changes(result.changes)
        if result.expired:
            self.expired += result.expired
            RECEIPTS_EXPIRED.inc(result.expired)
            log.warning("unmatched receipts expired", extra={"count": result.expired})
        return result.applied

    async def _sweep_loop(self) -> None:
        step = len(SWEEP_DELAYS)  # past the schedule: only the periodic sweep is due
        due = trio.current_time()  # at start: a crashed process may have left some
        while True:
            with trio.move_on_at(due):
                await self._kept.wait()
            if self._kept.is_set():
                # Something was just kept: sweep soon (not later than already due, so a
                # steady stream of early receipts cannot keep postponing the sweep).
                self._kept = trio.Event()
                step = 0
                due = min(due, trio.current_time() + SWEEP_DELAYS[0])
                continue
            try:
                applied = await self.sweep()
            except Exception as exc:  # a background retry: the next step tries again
                log.warning("unmatched receipts sweep failed", extra={"error": repr(exc)})
                applied = 0
            if applied >= self._max_batch:
                step = 0  # more to take at once
                due = trio.current_time()
                continue
            step += 1
            delay = SWEEP_DELAYS[step] if step < len(SWEEP_DELAYS) else math.inf
            due = trio.current_time() + min(delay, self._sweep_every)

"""ReceiptsActor: turns provider receipts into batched status updates.

A receipt names the provider's reference, not our id, so updates join on
``provider_reference``. A receipt can beat the commit of the reference it names (fast
providers, busy store): unmatched receipts are retried a few times over ~a minute before
being counted as orphans.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import trio

from engine.batching import gather
from engine.metrics import observe_mailbox
from engine.providers.base import Receipt
from engine.store.notifications import StatusChange
from engine.store.store import Store

OnChanges = Callable[[Sequence[StatusChange]], Awaitable[None]]
OnComplaints = Callable[[Sequence[Receipt]], Awaitable[None]]
RETRY_DELAYS = (0.2, 1.0, 5.0, 15.0, 40.0)


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
    ) -> None:
        self._store = store
        self._on_changes = on_changes
        self._on_complaints = on_complaints
        self._max_batch = max_batch
        self._linger = linger
        self.send_channel, self._recv = trio.open_memory_channel[Receipt](mailbox)
        self._retry_send, self._retry_recv = trio.open_memory_channel[tuple[float, int, Receipt]](
            mailbox
        )
        self.orphans = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._retry_loop)
            task_status.started()
            async with self._recv:
                async for first in self._recv:
                    batch = [first]
                    await gather(self._recv, batch, linger=self._linger, limit=self._max_batch)
                    observe_mailbox("receipts", self._recv.statistics())
                    await self._apply(batch, attempt=0)
            await self._retry_send.aclose()

    async def submit(self, receipts: Sequence[Receipt]) -> None:
        """Apply receipts now and return once they are committed (durable sources such as
        SQS acknowledge only after this). Unmatched ones join the usual retry schedule."""
        if receipts:
            await self._apply(list(receipts), attempt=0)

    async def _apply(self, batch: list[Receipt], *, attempt: int) -> None:
        complaints = [r for r in batch if r.complaint]
        statuses = [r for r in batch if not r.complaint]
        if complaints:
            await self._on_complaints(complaints)
        if not statuses:
            return
        matched, changes = await self._store.apply_receipts(statuses)
        if changes:
            await self._on_changes(changes)
        for receipt, found in zip(statuses, matched, strict=True):
            if found:
                continue
            if attempt < len(RETRY_DELAYS):
                due = trio.current_time() + RETRY_DELAYS[attempt]
                try:
                    self._retry_send.send_nowait((due, attempt + 1, receipt))
                except trio.WouldBlock:
                    self.orphans += 1
            else:
                self.orphans += 1

    async def _retry_loop(self) -> None:
        # Entries are queued in due order per attempt level; take everything already due
        # in one go so a burst of early receipts costs one round trip, not one each.
        async for due, attempt, receipt in self._retry_recv:
            await trio.sleep_until(due)
            by_attempt: dict[int, list[Receipt]] = {attempt: [receipt]}
            while True:
                try:
                    d, a, r = self._retry_recv.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                if d > trio.current_time():
                    await trio.sleep_until(d)
                by_attempt.setdefault(a, []).append(r)
                if sum(len(v) for v in by_attempt.values()) >= self._max_batch:
                    break
            for level, receipts in by_attempt.items():
                await self._apply(receipts, attempt=level)

"""Group commit: gather the write requests that arrive within a short linger (or up to a
row budget), write them in one transaction, then wake every waiter with its own results.

Rules:
- The mailbox is bounded: when the writer falls behind, ``submit`` waits (backpressure).
- A failed write fails every waiter of that batch with the error, except an error about
  the rows themselves (``split_on``, e.g. ``ROW_ERRORS``: SQLSTATE class 22 data exception
  or 23 integrity violation) in a batch of several requests: then the batch is split in
  halves and each half written again, down to the request whose rows the database
  refuses, so only its waiter gets the error (issue 20: one request's NUL failed every
  service's request in its batch). Bounded by the halving: one bad request among n costs
  at most 2*ceil(log2(n)) more transactions, k bad ones about 2k*log2(n/k), and never
  more than 2(n-1) in all (every request bad). A shared budget of 2*ceil(log2(n)) was
  tried first: 12 bad requests in a batch of 24 spent it and failed good ones with them.
  Only for a write that is all or nothing (one transaction): a part is written again
  only if nothing of it was kept. Validation refuses such rows first
  (``engine.api.limits``); this is the net under it. Connection errors are not split:
  they fail everyone, as before.
- A request's items are never split: they commit or fail together.
- The write itself is shielded: once rows are handed to the database, the waiters must
  learn the outcome even while the engine shuts down.
- A waiter may bound its wait with a watchdog's ticket (``engine.watchdog``: no cancel
  scope per request on the receipts' path): when it expires, the waiter stops waiting
  with ``trio.TooSlowError``. Its items stay in their batch and may still commit, as
  with a cancelled wait; a full mailbox is waited for under a cancel scope to the same
  deadline (backpressure, the rare case).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg
import trio

from engine.batching import gather
from engine.metrics import STORE_BATCH_ROWS, STORE_COMMIT_SECONDS, STORE_ROWS_TOTAL, labelled
from engine.watchdog import Ticket

T = TypeVar("T")
R = TypeVar("R")

# Errors about the rows, not the connection: SQLSTATE class 22 and class 23.
ROW_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)


class Pending(Generic[T, R]):
    __slots__ = ("done", "error", "items", "result")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.done = trio.Event()
        self.result: list[R] = []
        self.error: BaseException | None = None

    def give_up(self) -> None:
        """A ticket's wake: the waiter stops waiting (``trio.TooSlowError``)."""
        if not self.done.is_set():
            self.error = trio.TooSlowError()
            self.done.set()


class GroupCommit(Generic[T, R]):
    """Collects requests for a short linger, then writes them in one transaction."""

    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[list[list[R]] | None]],
        *,
        max_rows: int,
        linger: float,
        mailbox: int,
        split_on: tuple[type[Exception], ...] = (),
    ) -> None:
        """``split_on``: errors after which a batch of several requests is split and
        written again (the module's rules); only for a write in one transaction."""
        self.name = name
        self._write = write
        self._split_on = split_on
        self._max_rows = max_rows
        self._linger = linger
        self._send, self._recv = trio.open_memory_channel[Pending[T, R]](mailbox)

    async def submit(self, items: Sequence[T], ticket: Ticket | None = None) -> list[R]:
        """The items' results once committed; with ``ticket``, ``trio.TooSlowError`` once
        it expires (the module's rules)."""
        pending: Pending[T, R] = Pending(items)
        if ticket is None:
            await self._send.send(pending)
        else:
            try:
                self._send.send_nowait(pending)
            except trio.WouldBlock:
                with trio.fail_at(ticket.deadline):
                    await self._send.send(pending)
            ticket.wake = pending.give_up
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def depth(self) -> int:
        return self._recv.statistics().current_buffer_used

    async def close(self) -> None:
        await self._send.aclose()

    async def run_writer(self) -> None:
        async for first in self._recv:
            batch = [first]
            rows = await gather(
                self._recv, batch, linger=self._linger, limit=self._max_rows, size=_rows
            )
            await self._flush(batch, rows)

    async def _flush(self, batch: list[Pending[T, R]], rows: int) -> None:
        # Shielded: once rows are handed to the database, the waiters must learn the outcome
        # even while the engine shuts down.
        with trio.CancelScope(shield=True):
            await self._write_part(batch, rows)

    async def _write_part(self, batch: list[Pending[T, R]], rows: int) -> None:
        """Write ``batch``; on a row error (``split_on``), write each half again."""
        items: list[T] = [item for p in batch for item in p.items]
        start = trio.current_time()
        try:
            per_item = await self._write(items)
        except Exception as exc:
            if len(batch) > 1 and isinstance(exc, self._split_on):
                middle = len(batch) // 2
                for part in (batch[:middle], batch[middle:]):
                    await self._write_part(part, sum(len(p.items) for p in part))
                return
            for p in batch:
                p.error = exc
                p.done.set()
            return
        labelled(STORE_COMMIT_SECONDS, self.name).observe(trio.current_time() - start)
        labelled(STORE_BATCH_ROWS, self.name).observe(rows)
        labelled(STORE_ROWS_TOTAL, self.name).inc(rows)
        offset = 0
        for p in batch:
            if per_item is not None:
                p.result = [r for chunk in per_item[offset : offset + len(p.items)] for r in chunk]
            offset += len(p.items)
            p.done.set()


def _rows(pending: Pending[T, R]) -> int:
    return len(pending.items)

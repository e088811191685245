"""Group commit: gather the write requests that arrive within a short linger (or up to a
row budget), write them in one transaction, then wake every waiter with its own results.

Rules:
- The mailbox is bounded: when the writer falls behind, ``submit`` waits (backpressure).
- A failed write fails every waiter of that batch with the error; nothing is retried here.
- The write itself is shielded: once rows are handed to the database, the waiters must
  learn the outcome even while the engine shuts down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import trio

from engine.batching import gather
from engine.metrics import STORE_BATCH_ROWS, STORE_COMMIT_SECONDS, STORE_ROWS_TOTAL

T = TypeVar("T")
R = TypeVar("R")


class Pending(Generic[T, R]):
    __slots__ = ("done", "error", "items", "result")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.done = trio.Event()
        self.result: list[R] = []
        self.error: BaseException | None = None


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
    ) -> None:
        self.name = name
        self._write = write
        self._max_rows = max_rows
        self._linger = linger
        self._send, self._recv = trio.open_memory_channel[Pending[T, R]](mailbox)

    async def submit(self, items: Sequence[T]) -> list[R]:
        pending: Pending[T, R] = Pending(items)
        await self._send.send(pending)
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
        items: list[T] = [item for p in batch for item in p.items]
        start = trio.current_time()
        # Shielded: once rows are handed to the database, the waiters must learn the outcome
        # even while the engine shuts down.
        with trio.CancelScope(shield=True):
            try:
                per_item = await self._write(items)
            except Exception as exc:
                for p in batch:
                    p.error = exc
                    p.done.set()
                return
        STORE_COMMIT_SECONDS.labels(self.name).observe(trio.current_time() - start)
        STORE_BATCH_ROWS.labels(self.name).observe(rows)
        STORE_ROWS_TOTAL.labels(self.name).inc(rows)
        offset = 0
        for p in batch:
            if per_item is not None:
                p.result = [r for chunk in per_item[offset : offset + len(p.items)] for r in chunk]
            offset += len(p.items)
            p.done.set()


def _rows(pending: Pending[T, R]) -> int:
    return len(pending.items)

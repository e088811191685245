"""Gathering a batch from a mailbox: the one linger loop every batching actor shares.

An actor that has its first message waits at most ``linger`` seconds for more, up to a
limit, then works on what it holds. Messages already queued are taken without a
checkpoint each (a receive that does not have to wait costs a scheduler round trip
otherwise); a closed mailbox ends the gathering early, never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

T = TypeVar("T")


async def gather(
    recv: trio.MemoryReceiveChannel[T],
    batch: list[T],
    *,
    linger: float,
    limit: int,
    size: Callable[[T], int] | None = None,
) -> int:
    """Append to ``batch`` what arrives within ``linger`` seconds until the batch holds
    ``limit`` (each message counting ``size(message)``, else 1). Returns the batch's size."""
    total = len(batch) if size is None else sum(size(m) for m in batch)
    with trio.move_on_after(linger):
        while total < limit:
            try:
                message = recv.receive_nowait()
            except trio.WouldBlock:
                try:
                    message = await recv.receive()
                except trio.EndOfChannel:
                    break
            except trio.EndOfChannel:
                break
            batch.append(message)
            total += 1 if size is None else size(message)
    return total

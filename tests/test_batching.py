from __future__ import annotations

import pytest
import trio

from engine.batching import gather


async def test_gather_waits_at_most_the_linger_for_more(autojump_clock: trio.abc.Clock) -> None:
    send, recv = trio.open_memory_channel[int](10)
    batch = [0]
    async with trio.open_nursery() as nursery:

        async def late_sender() -> None:
            await trio.sleep(0.01)
            await send.send(1)  # within the linger: joins the batch
            await trio.sleep(1.0)
            await send.send(2)  # after it: left for the next batch

        nursery.start_soon(late_sender)
        start = trio.current_time()
        assert await gather(recv, batch, linger=0.05, limit=10) == 2
        assert trio.current_time() - start == pytest.approx(0.05)
    assert batch == [0, 1]
    assert recv.receive_nowait() == 2


async def test_gather_stops_at_the_limit_counted_by_size(autojump_clock: trio.abc.Clock) -> None:
    send, recv = trio.open_memory_channel[list[str]](10)
    for rows in (["a", "b"], ["c"], ["d", "e"], ["f"]):
        send.send_nowait(rows)
    batch: list[list[str]] = []
    start = trio.current_time()
    assert await gather(recv, batch, linger=5.0, limit=4, size=len) == 5
    assert batch == [["a", "b"], ["c"], ["d", "e"]]  # the third one crossed the limit
    assert trio.current_time() == start  # no waiting: the limit was reached from the queue


async def test_a_closed_mailbox_ends_the_gathering_with_what_it_holds(
    autojump_clock: trio.abc.Clock,
) -> None:
    send, recv = trio.open_memory_channel[int](10)
    send.send_nowait(1)
    await send.aclose()
    batch = [0]
    start = trio.current_time()
    assert await gather(recv, batch, linger=5.0, limit=10) == 2
    assert batch == [0, 1]
    assert trio.current_time() == start

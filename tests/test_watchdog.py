"""The watchdog's deadlines (engine.watchdog), on trio's MockClock: expiry within one tick
late and never early, repeated wakes until the ticket is given back, no silent bound."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from engine.watchdog import Watchdog


async def test_a_ticket_expires_within_one_tick_after_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    watchdog = Watchdog(0.1)
    woken_at: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog.run)
        start = trio.current_time()
        with watchdog.ticket(1.0) as ticket:
            ticket.wake = lambda: woken_at.append(trio.current_time() - start)
            await trio.sleep(0.95)
            assert not ticket.expired  # never early
            assert woken_at == []
            await trio.sleep(0.2)
            assert ticket.expired
            assert 1.0 <= woken_at[0] <= 1.1 + 1e-9  # within one tick late
            await trio.sleep(0.35)
            assert len(woken_at) >= 3  # woken again at every tick while still held
        given_back = len(woken_at)
        await trio.sleep(1.0)
        assert len(woken_at) == given_back  # given back: never woken again
        assert watchdog.held() == 0
        nursery.cancel_scope.cancel()


async def test_a_ticket_given_back_in_time_is_never_woken(
    autojump_clock: trio.testing.MockClock,
) -> None:
    watchdog = Watchdog(0.1)
    woken: list[int] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog.run)
        for i in range(50):
            with watchdog.ticket(0.5) as ticket:
                ticket.wake = lambda i=i: woken.append(i)
                await trio.sleep(0.4)
            assert not ticket.expired
        await trio.sleep(2.0)
        assert woken == []
        assert watchdog.held() == 0
        nursery.cancel_scope.cancel()


async def test_a_woken_path_sees_expired_and_can_stop_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """What the users do: the wake sets what the path waits on; the path reads expired."""
    watchdog = Watchdog(0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog.run)
        never = trio.Event()
        woken = trio.Event()
        with watchdog.ticket(3.0) as ticket:
            ticket.wake = woken.set
            async with trio.open_nursery() as waiting:
                waiting.start_soon(never.wait)
                await woken.wait()
                waiting.cancel_scope.cancel()
        assert ticket.expired
        assert 3.0 <= trio.current_time() <= 3.5 + 1e-9
        nursery.cancel_scope.cancel()


async def test_no_ticket_without_the_watchdog_running() -> None:
    watchdog = Watchdog(0.1)
    with pytest.raises(RuntimeError, match="not running"):
        watchdog.ticket(1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog.run)
        with watchdog.ticket(1.0):
            pass
        nursery.cancel_scope.cancel()
    with pytest.raises(RuntimeError, match="not running"):
        watchdog.ticket(1.0)  # stopped again
    with pytest.raises(ValueError, match="tick must be positive"):
        Watchdog(0)

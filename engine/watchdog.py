"""Deadlines on hot paths without a cancel scope each: one watchdog task per owner.

Why: a request bounded by ``trio.fail_after`` enters and leaves a cancel scope and
registers its deadline with trio: ~11 us of CPU a request with 200 tasks running, where a
bare checkpoint is ~2.5 us (``python bench/deadlines.py``). Two of them per notification
(the receipt's wait for its commit, the status callback's POST) were ~5% of the engine's
CPU in ``bench/e2e.py`` (README, "Results", fifteenth session). The HTTP server already
bounds its reads this way (``engine.http1.server_sockets``); this is the same idea for the
engine's other waits.

Rules:
- A ``Ticket`` is a deadline and what wakes the path waiting on it (``wake``): interrupt a
  socket (``trio.lowlevel.notify_closing``), fail a pending write. Taking one and giving
  it back (``with watchdog.ticket(s) as ticket:``) is a set's add and discard; nothing is
  registered with trio.
- The watchdog's task looks every ``tick`` seconds: each ticket still held past its
  deadline is marked ``expired`` and woken, and woken again at every later tick until it
  is given back, so a wake that found nothing parked (the path was between two waits)
  reaches the next wait. ``wake`` must be harmless to call again, and is replaced as the
  path moves on (``nothing_to_wake`` while nothing can be woken).
- A deadline holds within one tick late, never early: owners pick a tick of a tenth of
  their timeout or less.
- The path decides what expiry means (``trio.TooSlowError`` for both users) by reading
  ``expired`` after it was woken.
- Tickets need the task running: ``ticket`` refuses otherwise (``RuntimeError``), so no
  path loses its bound silently.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import trio


def nothing_to_wake() -> None:
    """A ticket's ``wake`` while its path has nothing to be woken."""


class Ticket:
    __slots__ = ("_held", "deadline", "expired", "wake")

    def __init__(self, held: set[Ticket], deadline: float) -> None:
        self._held = held
        self.deadline = deadline
        self.expired = False
        self.wake: Callable[[], None] = nothing_to_wake

    def __enter__(self) -> Ticket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._held.discard(self)


class Watchdog:
    def __init__(self, tick: float) -> None:
        if not tick > 0:
            raise ValueError("a watchdog's tick must be positive")
        self.tick = tick
        self._held: set[Ticket] = set()
        self._running = False

    def ticket(self, seconds: float) -> Ticket:
        """A deadline ``seconds`` from now, held until the ``with`` block ends."""
        if not self._running:
            raise RuntimeError("the watchdog is not running: no deadline could expire")
        ticket = Ticket(self._held, trio.current_time() + seconds)
        self._held.add(ticket)
        return ticket

    def held(self) -> int:
        return len(self._held)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Expire tickets every ``tick`` until cancelled."""
        self._running = True
        try:
            task_status.started()
            while True:
                await trio.sleep(self.tick)
                self.expire(trio.current_time())
        finally:
            self._running = False

    def expire(self, now: float) -> None:
        """Mark and wake every held ticket past its deadline (the task's one step)."""
        for ticket in [t for t in self._held if t.deadline <= now]:
            ticket.expired = True
            ticket.wake()

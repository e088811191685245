"""Provider call deadlines that count the time the process ran, not the time it was frozen.

``NOTIFY_PROVIDER_TIMEOUT_SECONDS`` bounds a call that hangs (the provider took the request
and never answers: ``engine.providers.aws``). A trio deadline counts wall time, so a
process frozen in the middle of a call (SIGSTOP, a long GC pause, a VM migration) found
its calls past their deadline when it thawed and could cancel them before reading the
answers waiting on their sockets: an SES call frozen with its answer on the socket (5 s
deadline, frozen 8 s, the AWS simulator) came back ``NoAnswer`` 3 times of 3, and so does
tests/providers/test_deadline.py's SIGSTOP test on the build before this module (an SNS
Publish there happened to read its answer first). The provider had accepted those
messages, yet nothing recorded their references, so recovery resent them (issue 19: the
sending grace of ``engine.domain.ownership`` only helps if the sender reads the answer).

Rules:
- ``scope(deadline)`` is a cancel scope for one call, cancelled once the process has run
  ``deadline`` seconds since it was opened (the scope must be ``close``d after the call).
- One ticker per trio run, shared by every provider of the process, advances the
  process's running time every ``STEP`` seconds while calls are open. A tick that came
  more than ``STALL`` seconds later than asked spans a freeze (or an event loop blocked
  that long) and counts for nothing; every other tick counts as the time it took. So
  a call is cancelled between ``deadline`` and ``deadline + STEP`` running seconds after
  it was opened (its start is placed between ticks), and a thawed process reads the
  answers that arrived meanwhile.
- The ticker is a trio system task (``trio.lowlevel.spawn_system_task``), started by the
  run's first call and kept in a ``RunVar``: no plumbing through every provider's
  constructor, and nothing to supervise (it awaits only its own sleeps and event; it
  ends with the run). It sleeps on an event while no call is open.
- Cost: entering a cancel scope and a dict entry per call. A task per call (a watchdog
  beside each call) cost ~150 us a call, measured, more than the rest of ``call``.
"""

from __future__ import annotations

import trio
from trio.lowlevel import RunVar, spawn_system_task

STEP = 0.25
STALL = 1.0


class Deadlines:
    """The calls open in this run and the running time at which each expires."""

    def __init__(self, step: float = STEP, stall: float = STALL) -> None:
        self.step = step
        self.stall = stall
        self.ran = 0.0  # the process's running seconds, as of the last tick
        self.frozen = 0.0  # seconds not counted (tests, logs)
        self._ticked_at = 0.0
        self._ticking = False  # in the tick loop: ``_ticked_at`` is current
        self._expiry: dict[trio.CancelScope, float] = {}
        self._opened = trio.Event()

    def open(self, deadline: float) -> trio.CancelScope:
        """A scope cancelled ``deadline`` running seconds from now (``close`` it after)."""
        since = trio.current_time() - self._ticked_at if self._ticking else 0.0
        scope = trio.CancelScope()
        self._expiry[scope] = self.ran + since + deadline
        self._opened.set()
        return scope

    def close(self, scope: trio.CancelScope) -> None:
        self._expiry.pop(scope, None)

    async def run(self) -> None:
        while True:
            if not self._expiry:
                self._ticking = False
                self._opened = trio.Event()
                await self._opened.wait()
            self._ticked_at, self._ticking = trio.current_time(), True
            while self._expiry:
                await trio.sleep(self.step)
                now = trio.current_time()
                took, self._ticked_at = now - self._ticked_at, now
                if took > self.step + self.stall:
                    self.frozen += took
                    continue  # a freeze: the answers that arrived meanwhile are read
                self.ran += took
                for scope, expiry in list(self._expiry.items()):
                    if expiry <= self.ran:
                        del self._expiry[scope]
                        scope.cancel()


_DEADLINES: RunVar[Deadlines] = RunVar("provider_deadlines")


def deadlines() -> Deadlines:
    """This run's deadlines, its ticker started on first use."""
    try:
        return _DEADLINES.get()
    except LookupError:
        found = Deadlines()
        _DEADLINES.set(found)
        spawn_system_task(found.run, name="provider call deadlines")
        return found

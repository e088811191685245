"""Fenced ownership: the timing rules of a process's registration (its fence) and its lease.

Pure: time is an argument (seconds on the process's monotonic clock). The SQL that applies
the same rules with the database clock is ``engine.store.recovery``; the actor that keeps a
registration alive is ``engine.actors.ownership``.

Rules, for a dead-node timeout D (``NOTIFY_RECOVERY_DEAD_AFTER_SECONDS``):
- A registration (a row of ``workers`` with a fresh owner id) is the fence: every claim
  records that id, every state-changing write on an owned row is conditional on it, and an
  id whose row is gone never comes back (the process registers again with a new id).
- Heartbeats every H = min(5 s, D / 6). A process may act on what it owns (a provider
  call, a callback POST) only while its lease is valid: its last successful heartbeat,
  timed from *before* the heartbeat was issued, is younger than the lease L = 2 D / 3.
- Another process may delete a registration (declare it dead) only once its heartbeat is
  older than D by the database clock, so a lease has been expired for at least D - L = D / 3
  before anyone can claim its rows: that margin is what a provider call started at the
  last valid moment has to finish in. (The database stamps the heartbeat at or after the
  moment the process started it; both clocks are assumed to run at the same rate.)
- No false deaths: a process may declare another dead only while its own heartbeats have
  been continuous for D (``up_since``, reset by a heartbeat that comes more than the gap
  G = 2 H after the previous one) and its own last heartbeat is younger than G. After a
  database outage every process's ``up_since`` restarts, so everyone has D to renew
  before anyone can claim; a paused process judges no one before it has renewed.
"""

from __future__ import annotations

import msgspec


class LeaseTimes(msgspec.Struct, frozen=True):
    dead_after: float
    heartbeat_every: float
    lease: float
    gap: float


def lease_times(dead_after: float) -> LeaseTimes:
    """The module's timings for a dead-node timeout of ``dead_after`` seconds."""
    heartbeat = min(5.0, dead_after / 6)
    return LeaseTimes(
        dead_after=dead_after,
        heartbeat_every=heartbeat,
        lease=dead_after * 2 / 3,
        gap=2 * heartbeat,
    )


class Lease:
    """One registration's lease, as the process sees it."""

    def __init__(self, lease: float) -> None:
        self.lease = lease
        self._renewed_at: float | None = None

    def renewed(self, started_at: float) -> None:
        """A heartbeat issued at ``started_at`` succeeded (registration counts as one)."""
        if self._renewed_at is None or started_at > self._renewed_at:
            self._renewed_at = started_at

    def lost(self) -> None:
        """The registration is gone: nothing is valid until the next one."""
        self._renewed_at = None

    def valid(self, now: float) -> bool:
        return self._renewed_at is not None and now - self._renewed_at < self.lease

    def expires_at(self) -> float | None:
        return None if self._renewed_at is None else self._renewed_at + self.lease

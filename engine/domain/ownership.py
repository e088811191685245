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
- A ``sending`` row without a provider reference is a provider call whose outcome only its
  sender can know: the answer arrives on that process's socket. Recovery resends such a
  row of an unregistered owner only once its mark is older than the sending grace
  S = 3 D + T (``sending_grace``; T the provider call's deadline,
  ``NOTIFY_PROVIDER_TIMEOUT_SECONDS``), not as soon as the owner is declared dead. A
  process declared dead may only be frozen (SIGSTOP, a long GC pause, a VM migration):
  within S it comes back, reads the answer that waited on its socket (a call's deadline
  counts the time its process ran, not a freeze: ``engine.providers.deadline``) and
  records the reference, which is a fact and is accepted from a fenced sender
  (``engine.store.notifications``); a row with a reference is never marked for sending
  again. What a sender must fit in S: the time from its mark to its call (the lease
  check may wait for a heartbeat), the call (at most T of running time), the freeze, and
  the work of catching up after it before the reference is written. So a freeze of up to
  about 3 D is survived without a duplicate, the issue's 60 s pause with the default
  D = 30 s included (2 D + T would have left a 60 s pause 5 s for all that). Also
  required: nothing between the mark and the answer may count the freeze as a timeout
  (the call's deadline and its HTTP phases: ``engine.providers.aws``), or the sender
  retries, is fenced, and the row is resent after the grace. A sender frozen longer in
  the middle of a call has its rows resent (at-least-once; neither SES nor SNS has an
  idempotency key), and so has a call that got no answer at all (its sender retries it
  while it owns the row).
  The cost: after a crash or a stop, the rows whose call was on the wire wait S after
  their mark (95 s with the defaults; others' rows are taken over D after the last
  heartbeat, as before).
"""

from __future__ import annotations

import msgspec


class LeaseTimes(msgspec.Struct, frozen=True):
    dead_after: float
    heartbeat_every: float
    lease: float
    gap: float


def sending_grace(dead_after: float, provider_timeout: float) -> float:
    """S: how old a reference-less ``sending`` mark of an unregistered owner must be
    before recovery resends its row (module rules)."""
    return 3 * dead_after + provider_timeout


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

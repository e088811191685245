"""Provider pacing math: one send rate for the whole deployment, spent one message at a time.
Pure: time is an argument, so tests need no clock. The SQL twin of ``SharedBucket`` is
``engine.store.send_rates``; the shell that leases and waits is ``engine.actors.pacing``.

Rules:
- ``NOTIFY_PROVIDER_SEND_RATES`` is the rate of the whole deployment (every process on one
  PostgreSQL), because a provider's limit is per account (an SES account's maximum send
  rate), not per process. The deployment's tokens are one token bucket per provider in the
  database (``SharedBucket`` here, table ``send_rates``): it refills at ``rate`` and holds
  ``bucket_capacity(rate)`` (``BUCKET_SECONDS`` of the rate).
- A process leases a slice of it (one ``UPDATE ... RETURNING``): at most
  ``lease_size(rate)`` tokens (``LEASE_SECONDS`` of the rate), never more than its backlog,
  never more than the bucket holds. The bucket never goes below zero, so N processes cannot
  overdraw it whatever N is: they share the refill, first come first served.
- A process spends what it holds evenly over the next ``LEASE_SECONDS`` (``Pacer``): the
  release pace is ``credit / LEASE_SECONDS`` and at most ``BURST_SECONDS`` of that pace (at
  least one message) goes out at once. So three processes holding a third of the rate each
  release a message every ``3 / rate`` seconds each, not their lease at once.
- Leased tokens expire ``2 * LEASE_SECONDS`` after the lease: a token is sent within that
  time or never. With that, any window of T seconds sees at most
  ``capacity + rate * (T + 2 * LEASE_SECONDS)`` sends at any process count: for T = 1 s,
  1.65x the rate (the rates of real accounts, >= 10/s; below that whole messages dominate).
  Unspent expired tokens are lost (the deployment sends a little under its rate, never over).
- A process asks again when what it holds is less than half a lease's worth of its pace,
  and at most every ``LEASE_SECONDS / 2``: at most 10 statements a second per busy process,
  none for an idle one. The bucket holds more than the refill between two asks
  (``BUCKET_SECONDS`` > ``LEASE_SECONDS / 2``), so under load no refill is lost and the
  deployment sends at the rate.
- No lease (database down, or the bucket empty): no sends. Pacing never guesses.

Measurements behind the constants: see the README (Provider send rates).
"""

from __future__ import annotations

import math

LEASE_SECONDS = 0.2  # a lease is at most this long of the rate, spent over this long
BUCKET_SECONDS = 0.25  # the shared bucket holds this long of the rate
BURST_SECONDS = 0.1  # at most this long of a process's pace released at once


def bucket_capacity(rate: float) -> float:
    return max(1.0, rate * BUCKET_SECONDS)


def lease_size(rate: float) -> int:
    return max(1, math.ceil(rate * LEASE_SECONDS))


class SharedBucket:
    """The deployment's bucket, as the database keeps it (``engine.store.send_rates`` runs
    the same math in one UPDATE); here for tests and for a process paced on its own."""

    __slots__ = ("tokens", "updated")

    def __init__(self, now: float, tokens: float = 0.0) -> None:
        self.tokens = tokens  # starts empty: a fleet that restarts does not burst
        self.updated = now

    def lease(self, want: int, rate: float, now: float) -> int:
        """Take up to ``want`` whole tokens (what the bucket holds); return how many."""
        level = min(bucket_capacity(rate), self.tokens + max(0.0, now - self.updated) * rate)
        granted = min(want, math.floor(max(0.0, level)))
        self.tokens = level - granted
        self.updated = max(self.updated, now)
        return granted


class Pacer:
    """One process's leased tokens, released one message at a time (the module's rules)."""

    __slots__ = ("credit", "expires", "level", "next_lease", "pace", "rate", "updated")

    def __init__(self, rate: float, now: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.credit = 0  # leased tokens not yet released
        self.expires = now  # the credit is void from then
        self.pace = self.rate  # release pace, messages/s
        self.level = 1.0  # releasable now; accrues at ``pace`` up to ``burst()``
        self.updated = now
        self.next_lease = now  # no lease asked before then

    def burst(self) -> float:
        return max(1.0, self.pace * BURST_SECONDS)

    def held(self, now: float) -> int:
        """Leased tokens still valid at ``now``."""
        return self.credit if now < self.expires else 0

    def want(self, backlog: int, now: float) -> int:
        """Tokens to ask the deployment's bucket for now (0 = do not ask)."""
        if now < self.next_lease:
            return 0
        held = self.held(now)
        if held and held >= self.pace * LEASE_SECONDS / 2:
            return 0
        return max(0, min(backlog - held, lease_size(self.rate)))

    def leased(self, granted: int, now: float) -> None:
        """A lease answered (``granted`` may be 0); or failed: call with 0."""
        self._accrue(now)
        self.credit = self.held(now) + granted
        if granted:
            self.expires = now + 2 * LEASE_SECONDS
            self.pace = self.credit / LEASE_SECONDS
        self.next_lease = now + LEASE_SECONDS / 2

    def take(self, want: int, now: float) -> int:
        """Release up to ``want`` messages now; return how many (0: wait ``wait(now)``)."""
        self._accrue(now)
        n = min(want, self.held(now), int(self.level))
        if n > 0:
            self.level -= n
            self.credit -= n
        return max(0, n)

    def wait(self, backlog: int, now: float) -> float:
        """Seconds until ``take`` may release a message, the credit expires, or ``want``
        may ask for a lease: the next event (call ``want`` and ``take`` first)."""
        held = self.held(now)
        events = [LEASE_SECONDS]  # nothing held and nothing to ask for: look again then
        if held:
            level = min(self.burst(), self.level + max(0.0, now - self.updated) * self.pace)
            events += [max(0.0, (1.0 - level) / self.pace), self.expires - now]
        if backlog > held and held < self.pace * LEASE_SECONDS / 2:
            events.append(max(0.0, self.next_lease - now))
        return max(0.0, min(events))

    def _accrue(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0:
            self.level = min(self.burst(), self.level + elapsed * self.pace)
            self.updated = now

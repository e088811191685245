"""The circuit breaker: one class, configured by its users. Pure: time is an argument, so
tests need no clock.

Rules:
- closed: everything goes through. Outcomes are counted in one-second buckets over a
  sliding ``window`` (whole seconds: the window is ``window`` buckets wide, so an outcome
  counts for ``window`` seconds give or take one). When the window meets the ``trip``
  rule, the breaker opens. ``record`` says so: it returns True for the outcome that
  opened it, and only for that one.
- The trip rule is configuration, not a subclass:
  ``FailureShare(threshold, min_volume)``: the window holds at least ``min_volume``
  outcomes and the share of failed ones reaches ``threshold`` (providers: a share, so a
  busy provider is judged on its error rate, not on its volume);
  ``FailureCount(max_failures)``: the window holds ``max_failures`` failures, whatever
  else it holds (callbacks: GC's "25 failed attempts within 300 s").
- open: nothing goes through for ``cooldown`` seconds. ``math.inf`` keeps it open until
  ``reset``: the callback manager suspends the endpoint, and a resume or a config change
  resets the breaker.
- half-open: after the cool-down, up to ``probes`` batches go through. A failed probe
  (``FailureShare``: its failure share reaches ``threshold``; ``FailureCount``: any
  failure) opens the breaker again for another cool-down; ``probes`` good probes close it
  with an empty window.
- Every transition starts a new epoch. ``acquire`` hands out the epoch a batch was let
  through in, and ``record`` ignores outcomes from an older epoch: a slow batch sent while
  closed must not decide a half-open probe, and a failure from before a reset must not
  count against the clean breaker. ``release`` returns a probe slot whose batch was never
  sent (cancelled), so an interrupted probe cannot wedge the breaker half-open.
- What counts as a failure is the caller's call: the ProviderActor counts retryable
  results (5xx, timeouts, connection errors), not throttles or rejections; a CallbackActor
  counts every attempt that was not a 2xx.
- The window keeps running totals: ``record`` costs O(1) amortised whatever the window's
  length (300 one-second buckets for callbacks).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class FailureShare:
    """Trip when at least ``min_volume`` outcomes are in the window and the failed share
    reaches ``threshold``."""

    threshold: float = 0.5
    min_volume: int = 20

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")

    def trips(self, total: int, failures: int) -> bool:
        return total >= self.min_volume and failures / total >= self.threshold

    def probe_failed(self, total: int, failures: int) -> bool:
        return failures / total >= self.threshold


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Trip when ``max_failures`` failures are in the window, whatever else is."""

    max_failures: int

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")

    def trips(self, total: int, failures: int) -> bool:
        return failures >= self.max_failures

    def probe_failed(self, total: int, failures: int) -> bool:
        return failures > 0


TripRule = FailureShare | FailureCount


class CircuitBreaker:
    def __init__(
        self,
        trip: TripRule | None = None,
        *,
        window: float = 30.0,
        cooldown: float = 30.0,
        probes: int = 1,
    ) -> None:
        self.trip: TripRule = trip if trip is not None else FailureShare()
        self.window = window
        self.cooldown = cooldown
        self.probes = probes
        self.state: State = "closed"
        self.epoch = 0
        self._buckets: deque[list[int]] = deque()  # [second, total, failures]
        self._total = 0  # sums over ``_buckets``
        self._failures = 0
        self._opened_at = 0.0
        self._probing = 0
        self._good_probes = 0

    # -- queries ----------------------------------------------------------------------
    def admits(self, now: float) -> bool:
        """Would ``acquire`` let a batch through now? (No side effect.)"""
        if self.state == "closed":
            return True
        if self.state == "open" and now < self._opened_at + self.cooldown:
            return False
        return self._probing < self.probes

    def retry_after(self, now: float) -> float:
        """How long until ``admits`` may change by time alone (the rest of the cool-down)."""
        if self.state == "open":
            return max(0.0, self._opened_at + self.cooldown - now)
        return 0.0

    def counts(self, now: float) -> tuple[int, int]:
        """(outcomes, failures) in the sliding window."""
        self._expire(now)
        return self._total, self._failures

    # -- transitions ------------------------------------------------------------------
    def acquire(self, now: float) -> int | None:
        """Let one batch through: its epoch, or None while the breaker refuses traffic."""
        if self.state == "closed":
            return self.epoch
        if self.state == "open":
            if now < self._opened_at + self.cooldown:
                return None
            self._move("half-open")
        if self._probing >= self.probes:
            return None
        self._probing += 1
        return self.epoch

    def record(self, epoch: int, now: float, total: int, failures: int) -> bool:
        """Count the outcome of a batch let through in ``epoch``; True if it opened the
        breaker."""
        if epoch != self.epoch or total <= 0:
            return False
        if self.state == "half-open":
            self._probing -= 1
            if self.trip.probe_failed(total, failures):
                self._open(now)
                return True
            self._good_probes += 1
            if self._good_probes >= self.probes:
                self._move("closed")
            return False
        if self.state != "closed":
            return False
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += total
            self._buckets[-1][2] += failures
        else:
            self._buckets.append([second, total, failures])
        self._total += total
        self._failures += failures
        volume, failing = self.counts(now)
        if self.trip.trips(volume, failing):
            self._open(now)
            return True
        return False

    def release(self, epoch: int) -> None:
        """Give back a batch's slot without an outcome (its send was interrupted)."""
        if epoch == self.epoch and self.state == "half-open" and self._probing > 0:
            self._probing -= 1

    def reset(self) -> None:
        """Closed, with an empty window, in a new epoch (the user fixed the cause)."""
        self._move("closed")

    def _open(self, now: float) -> None:
        self._move("open")
        self._opened_at = now

    def _move(self, state: State) -> None:
        self.state = state
        self.epoch += 1
        self._probing = 0
        self._good_probes = 0
        self._buckets.clear()
        self._total = self._failures = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.window  # whole seconds: the window is `window` buckets wide
        while self._buckets and self._buckets[0][0] <= horizon:
            _, total, failures = self._buckets.popleft()
            self._total -= total
            self._failures -= failures

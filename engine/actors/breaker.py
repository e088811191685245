"""A provider's circuit breaker. Pure: time is an argument, so tests need no clock.

Rules:
- closed: every batch goes through. Outcomes are counted in one-second buckets over a
  sliding ``window``; when the window holds at least ``min_volume`` messages and the
  share of failed ones reaches ``threshold``, the breaker opens.
- open: nothing goes through for ``cooldown`` seconds (the ProviderActor fails over to the
  next provider of the channel, or holds its batches).
- half-open: after the cool-down, up to ``probes`` batches go through. A probe whose
  failure share reaches ``threshold`` opens the breaker again for another cool-down;
  ``probes`` good probes close it with an empty window.
- Every transition starts a new epoch. ``acquire`` hands out the epoch a batch was let
  through in, and ``record`` ignores outcomes from an older epoch: a slow batch sent while
  closed must not decide a half-open probe. ``release`` returns a probe slot whose batch
  was never sent (cancelled), so an interrupted probe cannot wedge the breaker half-open.
- What counts as a failure is the caller's call: the ProviderActor counts retryable
  errors (5xx, timeouts, connection errors), not throttles or rejections.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: float = 0.5,
        window: float = 30.0,
        min_volume: int = 20,
        cooldown: float = 30.0,
        probes: int = 1,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.window = window
        self.min_volume = min_volume
        self.cooldown = cooldown
        self.probes = probes
        self.state: State = "closed"
        self.epoch = 0
        self._buckets: deque[list[float]] = deque()  # [second, total, failures]
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
        """(messages, failures) in the sliding window."""
        self._expire(now)
        total = sum(int(b[1]) for b in self._buckets)
        failures = sum(int(b[2]) for b in self._buckets)
        return total, failures

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

    def record(self, epoch: int, now: float, total: int, failures: int) -> None:
        """Count the outcome of a batch let through in ``epoch``."""
        if epoch != self.epoch or total <= 0:
            return
        failed = failures / total >= self.threshold
        if self.state == "half-open":
            self._probing -= 1
            if failed:
                self._open(now)
                return
            self._good_probes += 1
            if self._good_probes >= self.probes:
                self._move("closed")
            return
        if self.state != "closed":
            return
        second = float(int(now))
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += total
            self._buckets[-1][2] += failures
        else:
            self._buckets.append([second, float(total), float(failures)])
        volume, failing = self.counts(now)
        if volume >= self.min_volume and failing / volume >= self.threshold:
            self._open(now)

    def release(self, epoch: int) -> None:
        """Give back a batch's slot without an outcome (its send was interrupted)."""
        if epoch == self.epoch and self.state == "half-open" and self._probing > 0:
            self._probing -= 1

    def _open(self, now: float) -> None:
        self._move("open")
        self._opened_at = now

    def _move(self, state: State) -> None:
        self.state = state
        self.epoch += 1
        self._probing = 0
        self._good_probes = 0
        self._buckets.clear()

    def _expire(self, now: float) -> None:
        horizon = now - self.window  # whole seconds: the window is `window` buckets wide
        while self._buckets and self._buckets[0][0] <= horizon:
            self._buckets.popleft()

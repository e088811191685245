"""SendPacer: what a ProviderActor calls to pace its provider calls at the deployment's rate.

Rules:
- ``take(want, backlog)`` waits until at least one message may go and returns how many of
  ``want`` may go now (at most a small burst, ``engine.domain.pacing.Pacer``); the actor
  sends that many in one provider call. The math is ``engine.domain.pacing``; the tokens
  come from ``lease`` (``engine.store.send_rates.SendRates.lease`` in the engine: the
  deployment's bucket in PostgreSQL; ``local_lease`` for a process paced on its own).
- The lease is asked inline, in the actor's own loop: it is one statement every
  ``LEASE_SECONDS / 2`` at most, while the actor has a backlog, and the actor has nothing
  else to do while it waits for tokens (calls already started run in their own tasks).
- No lease, no send. A lease that fails (``DatabaseUnavailable``, or any error, logged) counts
  as a grant of 0 and is asked again ``LEASE_SECONDS / 2`` later; tokens held expire, so a
  process cut off from the database stops sending within ``2 * LEASE_SECONDS``. The
  breaker does not see this: no provider call was made.
- An unpaced provider has no SendPacer at all (``ProviderActor``'s ``pacer=None``): its hot
  path is the same attribute test as before pacing was deployment-wide.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from engine.domain.pacing import Pacer, SharedBucket, bucket_capacity
from engine.store.errors import DatabaseUnavailable

log = logging.getLogger("engine.provider")

# (provider, want, rate, capacity) -> tokens granted
Lease = Callable[[str, int, float, float], Awaitable[int]]

_MIN_SLEEP = 0.001  # a floor on every wait: the loop below can never spin


def local_lease(now: Callable[[], float] = trio.current_time) -> Lease:
    """A bucket of this process only (tests, a process paced on its own): the same math
    as the database's."""
    bucket: SharedBucket | None = None

    async def lease(provider: str, want: int, rate: float, capacity: float) -> int:
        nonlocal bucket
        if bucket is None:
            bucket = SharedBucket(now())
        return bucket.lease(want, rate, now())

    return lease


class SendPacer:
    def __init__(self, provider: str, rate: float, lease: Lease) -> None:
        self.provider = provider
        self.rate = float(rate)
        self._lease = lease
        self._capacity = bucket_capacity(self.rate)
        self._pacer: Pacer | None = None  # made at the first take (trio's clock runs then)
        self._failing = False

    async def take(self, want: int, backlog: int) -> int:
        """Wait until a message may go; return how many of ``want`` (>= 1) may go now.
        ``backlog`` is what the actor holds in all (it sizes the lease)."""
        if self._pacer is None:
            self._pacer = Pacer(self.rate, trio.current_time())
        pacer = self._pacer
        backlog = max(backlog, want)
        while True:  # every turn leases, returns, or sleeps at least _MIN_SLEEP
            now = trio.current_time()
            ask = pacer.want(backlog, now)
            if ask:
                pacer.leased(await self._ask(ask), trio.current_time())
                continue
            n = pacer.take(want, now)
            if n:
                return n
            await trio.sleep(max(_MIN_SLEEP, pacer.wait(backlog, now)))

    async def _ask(self, want: int) -> int:
        try:
            granted = await self._lease(self.provider, want, self.rate, self._capacity)
        except DatabaseUnavailable:
            return 0  # the store logs the outage once; no lease, no send
        except Exception:
            if not self._failing:
                log.exception("send rate lease failed", extra={"provider": self.provider})
            self._failing = True
            return 0
        self._failing = False
        return granted

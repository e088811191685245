"""Send rates: the deployment's token bucket per paced provider (table ``send_rates``,
migration 0008), leased in slices by every process. The math is
``engine.domain.pacing.SharedBucket``'s; the shell that spends a lease is
``engine.actors.pacing``.

Rules:
- One statement per lease: an ``UPDATE ... RETURNING`` on the provider's row refills the
  bucket from ``now()`` at the caller's rate (up to the capacity), takes up to ``want``
  whole tokens of what it holds, and returns how many. Concurrent leases serialize on the
  row lock and each re-reads the row the previous one committed, so two lessees never
  take the same token and the bucket never goes below zero.
- ``updated_at`` never moves back (``greatest``): a lease whose ``now()`` (its transaction's
  start) is older than the last one's is refilled by nothing, so no interval is counted
  twice.
- The row is created empty on first use (``INSERT ... ON CONFLICT DO NOTHING``, then the
  lease again): a deployment that starts or restarts does not begin with a burst.
- Every process passes its configured rate: configure the same ``NOTIFY_PROVIDER_SEND_RATES``
  on every node (a mix refills at whichever rate the lessee of the moment has).
- Runs on the main pool: one small statement per process per lease period, off the
  per-notification hot path.
"""

from __future__ import annotations

from engine.store._pipe import Pipe

# The bucket's level now: the stored tokens plus the refill since updated_at, capped.
_LEVEL = (
    "least($4::float8, tokens + $3::float8"
    " * greatest(0, extract(epoch FROM now() - updated_at))::float8)"
)
_GRANT = f"least($2::int, floor(greatest(0, {_LEVEL}))::int)"
_LEASE_SQL = (
    f"UPDATE send_rates SET tokens = {_LEVEL} - {_GRANT}, granted = {_GRANT},"
    " updated_at = greatest(updated_at, now())"
    " WHERE provider = $1 RETURNING granted"
)
_CREATE_SQL = (
    "INSERT INTO send_rates (provider, tokens) VALUES ($1, 0) ON CONFLICT (provider) DO NOTHING"
)


class SendRates:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def lease(self, provider: str, want: int, rate: float, capacity: float) -> int:
        """Take up to ``want`` tokens of ``provider``'s bucket (refilling at ``rate`` up to
        ``capacity``); return how many were taken (0 if the bucket is empty)."""
        for _ in range(2):
            rows = await self._pipe.fetch(_LEASE_SQL, provider, want, rate, capacity)
            if rows:
                return int(rows[0]["granted"])
            await self._pipe.execute(_CREATE_SQL, provider)
        return 0  # the row vanished between the two (a test emptying tables): no tokens

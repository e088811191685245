"""A read replica for read-only API traffic (``DATABASE_REPLICA_URL``): its pool, and the
rule for when a read falls back to the primary.

Rules:
- Only reads that tolerate lag run here: ``GET /v2/notifications/{id}``, the v2 list and
  the search by recipient (``engine.store.notifications``). Writes, and reads that must see
  their own write (admin reads, the cancel and its explanation, recovery, jobs, callbacks,
  the registry's service loads), stay on the primary.
- Lag tolerated: whatever the replica's replay lag is, a read never answers less than the
  primary would about existence. A GET the replica has no row for is asked again of the
  primary (a notification created a moment ago is never a 404), so an unknown id costs
  two queries. A row the replica has may show an older status (by the lag: ~ms on a
  healthy streaming replica, ``pg_stat_replication.replay_lag``), and a list or search may
  lack the newest rows or statuses; GC's clients poll, so they see them on a later call.
- A replica that cannot answer (unreachable, a statement it refuses, e.g. a recovery
  conflict or a column a lagging replica does not have yet after a migration) never fails
  the request: the read goes to the primary. An unreachable replica is not tried again for
  ``RETRY_S`` (reads go straight to the primary meanwhile; one WARNING line per change, as
  ``engine.store.availability`` does for the primary). Its failures never mark the
  primary unavailable. ``notify_replica_fallbacks_total{reason}`` counts reads the primary
  answered instead (reason: missing, unavailable, refused).
- The pool opens no connection at start (``min_size=0``): an engine starts with its replica
  down. Connections are opened on demand up to ``size`` (``NOTIFY_DB_REPLICA_POOL_SIZE``),
  each within ``CONNECT_TIMEOUT_S``; sessions are set like the main pool's
  (``engine.store.pools.session_settings``). Pool calls run on the store's asyncio thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from engine.metrics import REPLICA_FALLBACKS
from engine.store.asyncio_thread import AsyncioThread
from engine.store.errors import is_unavailability
from engine.store.pools import _keep_session, session_settings

log = logging.getLogger("engine.store")

RETRY_S = 5.0
CONNECT_TIMEOUT_S = 2.0


class Replica:
    """The replica's pool and state; ``fetch`` answers None when the primary must."""

    def __init__(
        self, thread: AsyncioThread, pool: Any, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._thread = thread
        self.pool = pool
        self._clock = clock
        self._down_until: float | None = None  # None while it answers

    async def fetch(self, sql: str, *args: object) -> list[Any] | None:
        """The rows, or None: the replica cannot answer now (the caller asks the primary)."""
        if self._down_until is not None and self._clock() < self._down_until:
            REPLICA_FALLBACKS.labels("unavailable").inc()
            return None
        pool = self.pool

        async def go() -> list[Any]:
            async with pool.acquire() as conn:
                return list(await conn.fetch(sql, *args))

        try:
            rows = await self._thread.call(go)
        except Exception as exc:
            if is_unavailability(exc):
                REPLICA_FALLBACKS.labels("unavailable").inc()
                if self._down_until is None:
                    log.warning("read replica unavailable: reads go to the primary",
                                extra={"error": f"{type(exc).__name__}: {exc}"[:300]})  # fmt: skip
                self._down_until = self._clock() + RETRY_S
            else:
                REPLICA_FALLBACKS.labels("refused").inc()
                log.info("read replica refused a read: the primary answers it",
                         extra={"error": type(exc).__name__})  # fmt: skip
            return None
        if self._down_until is not None:
            self._down_until = None
            log.warning("read replica available again")
        return rows


@asynccontextmanager
async def open_replica(
    db: AsyncioThread, dsn: str, *, size: int, statement_timeout_s: float
) -> AsyncIterator[Replica]:
    """The replica's pool on ``db``'s loop (no connection opened yet), closed on exit."""
    import asyncpg

    async def create() -> Any:
        return await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=size,
            reset=_keep_session,
            max_inactive_connection_lifetime=0,
            timeout=CONNECT_TIMEOUT_S,
            server_settings=session_settings(dsn, statement_timeout_s),
        )

    pool = await db.call(create)
    try:
        yield Replica(db, pool)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await db.call(pool.close)

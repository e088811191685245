"""The store's two asyncpg connection pools: how they are opened, configured and closed.

Rules:
- The main pool (API, admin, inserts) grows on demand up to ``pool_size``; the keyed pool
  (hot-path statements that find rows by key: ``Store(..., keyed=True)``) opens all its
  connections at start, one per writer task and two for the callback queue, so none is
  mid-handshake when the engine stops.
- Connections keep no session state between uses and are not reset on release
  (``_keep_session``); session settings are fixed when a connection opens.
- No asyncio timer per statement or per release (see ``STATEMENT_TIMEOUT_S``).
- Closing is shielded and bounded (10 s): a stopping engine never leaves them open.
- Pools are created, used and closed on the store's database thread (``AsyncioThread``).
- asyncpg's own retries to restore a pool's minimum size are not logged: it logs one
  traceback per retry while the database is down, and the store already logs the outage
  once (``engine.store.availability``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trio

from engine.store.asyncio_thread import AsyncioThread

# The sessions of the keyed pool (the statements that run _UPDATE_SQL and the like) use
# generic plans: asyncpg prepares every statement, and on the partitioned `notifications`
# a custom plan is made again at every run. Measured over 100,000 notifications of
# bench/e2e.py (pg_stat_statements with track_planning, PostgreSQL 18): with custom plans
# 9.7 s of planning and 42.1 s of execution, the status write planning 0.53 ms a
# statement and the receipt lookup (every partition: it cannot name a day) 0.75 ms; with
# generic plans 0.6 s and 34.2 s (partitions pruned at executor start from the ids'
# window; the status write read 7.8 M buffers instead of 10.3 M). PostgreSQL 15, status
# writes of 40 over two day partitions: 6.05-6.71 ms a write against 6.47-7.18. (Before
# partitions, with one table, the generic plan of this unnest-driven UPDATE had taken
# 20-40 ms per 200 rows instead of 11-13 ms, and custom plans were forced here.) Not for
# the main pool: its statements are shaped by their parameters (lists, filters).
# A session setting (not SET LOCAL in a transaction) keeps a status batch to one round
# trip. Needs PostgreSQL 12 or newer.
# These sessions only ever look rows up by key (id, provider reference, queue seq), and a
# table scan is never the right plan for that; but until (auto)analyze has seen a fresh or
# fast growing table the planner believes it is small and scans it: measured on a new
# database (autovacuum off), the receipt lookup scanned `notifications` in ~20 ms a batch,
# a quarter of PostgreSQL's CPU. Hence enable_seqscan = off (a cost penalty, not a ban),
# and jit = off: the penalty inflates plan costs past jit_above_cost, and compiling the
# callback claim took ~0.7 s a run. These statements are far too small for JIT anyway.
_KEYED_SESSION = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off", "jit": "off"}

# No asyncio timer per statement or per connection use: asyncpg's command_timeout (a timer
# per statement, 60 s) and the pool's idle-connection check (a timer per release, 300 s)
# left tens of thousands of cancelled timers alive at thousands of statements a second
# (measured under trio-asyncio, which keeps them until they would have fired: pauses of
# the cyclic collector in the API's p99). So a statement that runs this long is cancelled
# by PostgreSQL itself (statement_timeout), and pools never close idle connections (they
# are few and fixed: see ``open``).
STATEMENT_TIMEOUT_S = 60.0

# How every connection of the engine shows in pg_stat_activity (operators count them by it).
APPLICATION_NAME = "notify-engine"


def _not_a_floor_retry(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Failed to restore the pool connection floor")


def session_settings(dsn: str, timeout_s: float, **settings: str) -> dict[str, str]:
    """Settings of every connection the store opens: the statement timeout, and
    ``application_name`` (``APPLICATION_NAME`` unless the DSN names one: asyncpg's
    ``server_settings`` would override the DSN's)."""
    named = "application_name" in parse_qs(urlsplit(dsn).query)
    return {
        "statement_timeout": f"{round(timeout_s * 1000)}ms",
        **({} if named else {"application_name": APPLICATION_NAME}),
        **settings,
    }


async def _keep_session(conn: Any) -> None:
    """Pool release hook. asyncpg's default runs ``RESET ALL; UNLISTEN *; CLOSE ALL;
    pg_advisory_unlock_all()``, a round trip per checkout for state this engine never
    leaves behind; asyncpg still rolls back a transaction left open before calling it."""


@asynccontextmanager
async def open_pools(
    db: AsyncioThread,
    dsn: str,
    *,
    pool_size: int,
    keyed_size: int,
    statement_timeout_s: float = STATEMENT_TIMEOUT_S,
) -> AsyncIterator[tuple[Any, Any]]:
    """(main pool, keyed pool) on ``db``'s loop, closed on exit."""
    import asyncpg

    pool_log = logging.getLogger("asyncpg.pool")
    if _not_a_floor_retry not in pool_log.filters:
        pool_log.addFilter(_not_a_floor_retry)

    async def create(size: tuple[int, int], settings: dict[str, str]) -> Any:
        return await asyncpg.create_pool(
            dsn,
            min_size=size[0],
            max_size=size[1],
            reset=_keep_session,
            max_inactive_connection_lifetime=0,
            server_settings=settings,
        )

    pool = await db.call(
        create, (min(2, pool_size), pool_size), session_settings(dsn, statement_timeout_s)
    )
    try:
        keyed_pool = await db.call(
            create,
            (keyed_size, keyed_size),
            session_settings(dsn, statement_timeout_s, **_KEYED_SESSION),
        )
    except BaseException:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await db.call(pool.close)
        raise
    try:
        yield pool, keyed_pool
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await db.call(keyed_pool.close)
            await db.call(pool.close)

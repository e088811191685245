"""The generic statement pipe: private to ``engine.store``.

Rules:
- Only the subject modules of this package (and ``tests/sql.py``, which prepares and
  inspects test databases) call it; everyone else goes through a named query of a subject
  (``store.notifications.get``, ``store.callbacks.claim``, ...).
- Every statement runs on the store's asyncio thread through ``db.call``
  (``engine.store.availability``: an unreachable database raises ``DatabaseUnavailable``)
  on a connection of the main pool, or with ``keyed=True`` of the keyed pool
  (``engine.store.pools``): statements that find their rows by key on the hot path.
- ``transaction`` with one statement sends no BEGIN/COMMIT (atomic on its own).
- ``read`` / ``read_row``: a read that tolerates replica lag. With a replica
  (``engine.store.replica``, ``DATABASE_REPLICA_URL``) it runs there, and on the primary
  when the replica cannot answer; ``read_row`` also asks the primary for a row the
  replica does not have (yet). Without a replica both are ``fetch`` / ``fetchrow``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.metrics import REPLICA_FALLBACKS
from engine.store.availability import Availability
from engine.store.replica import Replica

Statement = tuple[str, tuple[object, ...]]


class Pipe:
    """Plain statements on the store's pools (reads and writes off the per-row hot path)."""

    def __init__(
        self, db: Availability, pool: Any, keyed_pool: Any, replica: Replica | None = None
    ) -> None:
        self.db = db
        self.pool = pool
        self.keyed_pool = keyed_pool
        self.replica = replica

    async def read(self, sql: str, *args: object) -> list[Any]:
        """Rows of a lag-tolerant read: the replica's, else the primary's."""
        if self.replica is not None:
            rows = await self.replica.fetch(sql, *args)
            if rows is not None:
                return rows
        return await self.fetch(sql, *args)

    async def read_row(self, sql: str, *args: object) -> Any:
        """One row of a lag-tolerant read; a row the replica lacks is the primary's to give."""
        if self.replica is not None:
            rows = await self.replica.fetch(sql, *args)
            if rows:
                return rows[0]
            if rows is not None:
                REPLICA_FALLBACKS.labels("missing").inc()
        return await self.fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: object, keyed: bool = False) -> list[Any]:
        pool = self.keyed_pool if keyed else self.pool

        async def go() -> list[Any]:
            async with pool.acquire() as conn:
                return list(await conn.fetch(sql, *args))

        return await self.db.call(go)

    async def fetchrow(self, sql: str, *args: object) -> Any:
        async def go() -> Any:
            async with self.pool.acquire() as conn:
                return await conn.fetchrow(sql, *args)

        return await self.db.call(go)

    async def execute(self, sql: str, *args: object, keyed: bool = False) -> str:
        pool = self.keyed_pool if keyed else self.pool

        async def go() -> str:
            async with pool.acquire() as conn:
                return str(await conn.execute(sql, *args))

        return await self.db.call(go)

    async def transaction(self, statements: Sequence[Statement], *, keyed: bool = False) -> None:
        """Run several statements atomically (admin writes, callback bookkeeping)."""
        pool = self.keyed_pool if keyed else self.pool

        async def go() -> None:
            async with pool.acquire() as conn:
                if len(statements) == 1:  # atomic on its own: no BEGIN/COMMIT round trips
                    await conn.execute(statements[0][0], *statements[0][1])
                    return
                async with conn.transaction():
                    for sql, args in statements:
                        await conn.execute(sql, *args)

        await self.db.call(go)


def affected(status: str) -> int:
    """Rows a statement changed, from its command tag (``UPDATE 3`` -> 3)."""
    return int(status.rsplit(" ", 1)[-1])

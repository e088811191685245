"""SQL for tests: preparing and inspecting a test database through a running store.

The engine's own code never writes SQL outside ``engine/store/``; tests that need a row
in a given state, or to look at one, say so here in SQL, through the store's private pipe
(same pools, same asyncio thread). ``keyed=True`` runs on the keyed pool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from engine.store._pipe import Pipe
from engine.store.store import Store


def pipe(store: Store) -> Pipe:
    """The store's statement pipe (its pools and database thread: ``.pool``, ``.db``)."""
    return store._pipe


async def fetch(store: Store, sql: str, *args: object, keyed: bool = False) -> list[Any]:
    return await store._pipe.fetch(sql, *args, keyed=keyed)


async def opened(store: Store, sql: str, *args: object) -> list[Any]:
    """``fetch`` of notification columns, their personal values open (as the store's own
    reads return them: ``engine.store.sealing``)."""
    return store.sealer.notifications(await store._pipe.fetch(sql, *args))


async def fetchrow(store: Store, sql: str, *args: object) -> Any:
    return await store._pipe.fetchrow(sql, *args)


async def execute(store: Store, sql: str, *args: object, keyed: bool = False) -> str:
    return await store._pipe.execute(sql, *args, keyed=keyed)


async def transaction(
    store: Store, statements: Sequence[tuple[str, tuple[object, ...]]], *, keyed: bool = False
) -> None:
    await store._pipe.transaction(statements, keyed=keyed)


async def on_replica(store: Store, sql: str, *args: object) -> list[Any]:
    """``fetch`` on the store's read replica itself (no fallback to the primary)."""
    replica = store._pipe.replica
    assert replica is not None, "this store has no read replica"
    pool = replica.pool

    async def go() -> list[Any]:
        async with pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    return await store._pipe.db.thread.call(go)


def _literal(value: object) -> str:
    """``value`` as an SQL literal of unknown type (PostgreSQL casts it to the parameter's):
    numbers, uuids, plain strings and flat lists of them, which is all the plans need."""
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        items = ("NULL" if v is None else str(v) for v in value)
        return _literal("{" + ",".join(items) + "}")
    text = str(value)
    assert "'" not in text, text
    assert "\\" not in text, text
    return f"'{text}'"


class KeyedStatement:
    """``sql`` prepared on one connection of the keyed pool, as the engine's statements are
    (asyncpg's statement cache): under the pool's ``plan_cache_mode`` its generic plan is
    made at the first ``run`` and kept while the table changes, until an invalidation
    (``ANALYZE``, autovacuum). ``plan`` runs it under ``EXPLAIN (ANALYZE, BUFFERS)``, so
    with that kept plan (a plain ``EXPLAIN`` would plan it afresh with its values)."""

    def __init__(self, store: Store, sql: str) -> None:
        self._store, self._sql, self._conn = store, sql, cast(Any, None)

    async def __aenter__(self) -> KeyedStatement:
        async def go() -> Any:
            conn = await self._store._pipe.keyed_pool.acquire()
            await conn.execute(f"PREPARE kept AS {self._sql}")
            return conn

        self._conn = await self._store._pipe.db.call(go)
        return self

    async def __aexit__(self, *_: object) -> None:
        async def go() -> None:
            try:
                await self._conn.execute("DEALLOCATE kept")
            finally:
                await self._store._pipe.keyed_pool.release(self._conn)

        await self._store._pipe.db.call(go)

    async def run(self, *args: object) -> None:
        await self._store._pipe.db.call(lambda: self._conn.execute(f"EXECUTE kept{_values(args)}"))

    async def plan(self, *args: object) -> Any:
        query = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE kept{_values(args)}"
        [row] = await self._store._pipe.db.call(lambda: self._conn.fetch(query))
        return json.loads(row[0])[0]


def _values(args: Sequence[object]) -> str:
    return f"({', '.join(_literal(a) for a in args)})" if args else ""

"""SQL for tests: preparing and inspecting a test database through a running store.

The engine's own code never writes SQL outside ``engine/store/``; tests that need a row
in a given state, or to look at one, say so here in SQL, through the store's private pipe
(same pools, same asyncio thread). ``keyed=True`` runs on the keyed pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

"""Migrations are numbered in order (gaps allowed), apply cleanly and are idempotent."""

from __future__ import annotations

import uuid

import asyncpg
import trio
import trio_asyncio

from engine.store.dsn import with_database
from engine.store.migrate import MIGRATION_LOCK_ID, load_migrations
from engine.store.store import Store
from tests import sql


def test_migration_numbers_are_unique_and_ascending_from_one() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions[0] == 1
    assert versions == sorted(set(versions))


async def test_applying_twice_applies_nothing_the_second_time(store: Store) -> None:
    assert await store.migrate() == []
    rows = await sql.fetch(store, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in load_migrations()]


async def test_concurrent_first_runs_apply_each_migration_once(
    aio_loop: None, database_url: str
) -> None:
    """Two engine processes starting at once on an empty database: the advisory lock makes
    one apply everything while the other waits, then finds nothing left to do."""
    name = f"notify_migrate_{uuid.uuid4().hex[:10]}"
    fresh = with_database(database_url, name)
    await _admin(database_url, f"CREATE DATABASE {name}")
    try:
        with trio.fail_after(60):
            async with Store.open(fresh, pool_size=4) as store:
                results: list[list[int]] = []

                async def migrate() -> None:
                    results.append(await store.migrate())

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(migrate)
                    nursery.start_soon(migrate)
                every = [m.version for m in load_migrations()]
                assert sorted(results) == [[], every]
                assert await store.migrate() == []
                rows = await sql.fetch(store, "SELECT version FROM schema_migrations ORDER BY 1")
                assert [r["version"] for r in rows] == every
                # The schema is really there (the last migration's tables included).
                assert await sql.fetchrow(store, "SELECT count(*) FROM notifications") is not None
                # The lock was released: another session can take it at once.
                got = await sql.fetchrow(
                    store, "SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_ID
                )
                assert got[0] is True
    finally:
        with trio.CancelScope(shield=True):
            await _admin(database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _admin(dsn: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await trio_asyncio.aio_as_trio(run)()

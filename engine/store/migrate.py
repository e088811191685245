"""Plain numbered SQL migrations, applied in order under a PostgreSQL advisory lock.

Files are ``migrations/NNNN_name.sql`` with unique numbers starting at 0001. Gaps are
allowed (a number may be taken by a branch not merged yet): every file whose number is not
in ``schema_migrations`` is applied, in number order, even below the highest applied one,
so a later-merged lower number still applies. Each file runs in its own transaction
together with its row in ``schema_migrations``, so a failed file leaves nothing
half-applied. Several engine processes may start at once: the
advisory lock makes the others wait, then find nothing left to do.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    import asyncpg

MIGRATION_LOCK_ID = 0x6E6F7469  # "noti": any constant shared by every engine process
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Return the bundled migrations sorted by version, checking the file names."""
    found: list[Migration] = []
    for entry in resources.files("engine.store").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file name must look like 0001_name.sql: {entry.name}")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migration files share a number: {versions}")
    return found


async def apply_migrations(conn: asyncpg.Connection) -> list[int]:
    """Apply every pending migration (asyncio side: call through the store's bridge).

    Returns the versions applied by this call.
    """
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in load_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now

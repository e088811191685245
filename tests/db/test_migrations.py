"""Migrations are numbered contiguously, apply cleanly and are idempotent."""

from __future__ import annotations

from engine.actors.store import Store
from engine.db.migrate import load_migrations


def test_migration_numbers_are_contiguous_from_one() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_applying_twice_applies_nothing_the_second_time(store: Store) -> None:
    assert await store.migrate() == []
    rows = await store.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in load_migrations()]

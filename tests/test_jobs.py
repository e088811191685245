"""Bulk job helpers that need no database."""

from __future__ import annotations

from engine.jobs import new_ids


def test_new_ids_are_distinct_version_4_uuids() -> None:
    ids = new_ids(5000)
    assert len(set(ids)) == 5000
    assert {i.version for i in ids} == {4}
    assert {str(i)[19] for i in ids} <= set("89ab")  # RFC 4122 variant
    assert new_ids(0) == []

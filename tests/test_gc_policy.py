"""The serving process's garbage-collector settings (engine/gc_policy.py). Each test puts
the test process's collector back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import trio

from engine.gc_policy import tune_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_serving_freezes_start_up_objects_and_collects_young_ones_less_often() -> None:
    before = gc.get_threshold()
    survivor = {"kept": [1, 2, 3]}  # alive at start-up: frozen, never scanned again
    tune_for_serving(50_000)
    assert gc.get_threshold() == (50_000, before[1], before[2])
    assert gc.get_freeze_count() > 0
    # Frozen: in no generation, so no collection scans it again; still alive and tracked.
    assert not any(o is survivor for o in gc.get_objects())
    assert gc.is_tracked(survivor)
    assert survivor["kept"] == [1, 2, 3]
    fresh = [["made after start-up"]]
    assert any(o is fresh for o in gc.get_objects(generation=0))


@pytest.mark.usefixtures("restored_gc")
def test_zero_keeps_pythons_defaults() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    tune_for_serving(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


async def test_every_collection_pause_is_measured_by_generation() -> None:
    from prometheus_client import REGISTRY

    from engine.gc_policy import watch_pauses

    def count(generation: str) -> float:
        value = REGISTRY.get_sample_value(
            "notify_gc_pause_seconds_count", {"generation": generation}
        )
        return value or 0.0

    callbacks = list(gc.callbacks)
    async with trio.open_nursery() as nursery:
        await nursery.start(watch_pauses)
        before = count("2")
        gc.collect()
        assert count("2") == before + 1
        nursery.cancel_scope.cancel()
    assert gc.callbacks == callbacks  # nothing measured once the engine stops

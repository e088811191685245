"""API keys' last use (issue 27): a request only notes the key in memory; the writes are at
most one per key per minute, whatever the traffic (``engine.api.key_usage``). On trio's
mock clock, with a fake of the store's one call."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import trio
import trio.testing

from engine.api.key_usage import KeyUsage


class FakeKeys:
    def __init__(self) -> None:
        self.writes: list[list[tuple[uuid.UUID, dt.datetime]]] = []

    async def mark_used(self, used: list[tuple[uuid.UUID, dt.datetime]]) -> None:
        self.writes.append(list(used))


async def test_busy_keys_are_written_once_a_minute(autojump_clock: trio.testing.MockClock) -> None:
    usage, keys = KeyUsage(every=60.0), FakeKeys()
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    fake: Any = keys
    async with trio.open_nursery() as nursery:
        await nursery.start(usage.run, fake)
        for second in range(150):  # 150 s of traffic, 100 requests a second on one key
            for _ in range(100):
                usage.seen(busy)
            if second == 10:
                usage.seen(quiet)
            await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    assert len(keys.writes) == 2  # at 60 s and 120 s: not one per request, not per second
    assert {k for k, _ in keys.writes[0]} == {busy, quiet}
    assert [k for k, _ in keys.writes[1]] == [busy]  # the quiet key was not used again
    assert usage.last_used(quiet, None) is not None


async def test_memory_is_shown_before_it_is_written() -> None:
    usage = KeyUsage()
    key = uuid.uuid4()
    stored = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert usage.last_used(key, stored) == stored
    usage.seen(key)
    seen = usage.last_used(key, stored)
    assert seen is not None
    assert seen > stored
    assert usage.last_used(key, seen + dt.timedelta(days=1)) == seen + dt.timedelta(days=1)

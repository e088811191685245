"""Supervision on trio's mock clock: restarts with backoff, nothing queued is lost."""

from __future__ import annotations

import logging
import random
from functools import partial

import pytest
import trio

from engine.actors.provider import _RECORD_ATTEMPTS, ProviderActor
from engine.actors.supervisor import supervise
from engine.domain import statuses as st
from engine.domain.breaker import CircuitBreaker, FailureShare
from engine.store.errors import DatabaseUnavailable
from tests.actors.fakes import FakeProvider, FakeStore, email, no_changes, sample, wait_until


class Flaky:
    """An actor whose ``run`` crashes after ``crash_after`` messages, ``crashes`` times."""

    def __init__(self, crash_after: int, crashes: int = 1, error: Exception | None = None) -> None:
        self.error = error or RuntimeError("actor bug")
        self.send_channel, self._recv = trio.open_memory_channel[int](100)
        self.crash_after = crash_after
        self.crashes = crashes
        self.processed: list[int] = []
        self.starts: list[float] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.starts.append(trio.current_time())
        task_status.started()
        handled = 0
        while True:
            if self.crashes and handled == self.crash_after:
                self.crashes -= 1
                raise self.error
            self.processed.append(await self._recv.receive())
            handled += 1
            await trio.sleep(0.01)


async def test_restart_keeps_the_queued_messages(autojump_clock: object) -> None:
    actor = Flaky(crash_after=3)
    for i in range(10):
        actor.send_channel.send_nowait(i)
    before = sample("notify_actor_restarts_total", actor="flaky")
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(supervise, "flaky", actor.run, min_backoff=0.5))
        with trio.fail_after(10):
            await wait_until(lambda: len(actor.processed) == 10)
        nursery.cancel_scope.cancel()
    assert actor.processed == list(range(10))  # all of them, once, in order
    assert sample("notify_actor_restarts_total", actor="flaky") == before + 1
    assert len(actor.starts) == 2
    assert actor.starts[1] - actor.starts[0] >= 0.5 + 0.03  # three messages, then the backoff


async def test_backoff_doubles_up_to_the_cap(autojump_clock: object) -> None:
    actor = Flaky(crash_after=0, crashes=6)
    before = sample("notify_actor_restarts_total", actor="crashy")
    async with trio.open_nursery() as nursery:
        await nursery.start(
            partial(supervise, "crashy", actor.run, min_backoff=1.0, max_backoff=4.0)
        )
        with trio.fail_after(60):
            await wait_until(lambda: len(actor.starts) == 7)
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 6) for a, b in zip(actor.starts, actor.starts[1:], strict=False)]
    assert gaps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert sample("notify_actor_restarts_total", actor="crashy") == before + 6


async def test_a_database_outage_restarts_quietly(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    # The store logs an outage once; a traceback per restart would flood the log with it.
    actor = Flaky(crash_after=0, crashes=3, error=DatabaseUnavailable("database unavailable"))
    before = sample("notify_actor_restarts_total", actor="db-down")
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(supervise, "db-down", actor.run, min_backoff=1.0))
        with trio.fail_after(60):
            await wait_until(lambda: len(actor.starts) == 4)
        nursery.cancel_scope.cancel()
    assert sample("notify_actor_restarts_total", actor="db-down") == before + 3
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_failure_to_start_is_not_retried(autojump_clock: object) -> None:
    async def broken(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        raise ValueError("bad configuration")

    with pytest.RaisesGroup(
        pytest.RaisesExc(ValueError, match="bad configuration"), flatten_subgroups=True
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "broken", broken))


async def test_provider_actor_restart_loses_nothing(autojump_clock: object) -> None:
    """The store keeps failing while the first batch's outcome is written: the actor crashes, the
    supervisor restarts it, and every message, queued or in flight, ends up sent."""
    provider, store = FakeProvider("restart-me", max_batch=10), FakeStore()
    actor = ProviderActor(
        provider, store, no_changes, breaker=CircuitBreaker(FailureShare(min_volume=10**9)),
        rng=random.Random(1), concurrency=1,
    )  # fmt: skip
    messages = [email(i) for i in range(50)]
    for m in messages:
        actor.send_channel.send_nowait(m)
    # The first batch is sent, then its outcome cannot be stored, not even after the
    # in-place retries (a failure that is not an outage: those are retried as long as
    # they last, engine.actors.provider).
    store.fail_outcomes = _RECORD_ATTEMPTS
    before = sample("notify_actor_restarts_total", actor="provider-test")
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(supervise, "provider-test", actor.run, min_backoff=1.0))
        with trio.fail_after(30):
            await wait_until(lambda: len(store.final()) == 50)
        nursery.cancel_scope.cancel()
    assert sample("notify_actor_restarts_total", actor="provider-test") == before + 1
    assert set(store.final()) == {m.notification_id for m in messages}
    assert set(store.final().values()) == {st.SENDING}
    # The interrupted batch was sent again after the restart (at-least-once), nothing else.
    assert len(provider.sent()) == 60
    assert provider.calls[1][0] - provider.calls[0][0] >= 1.0  # after the restart backoff

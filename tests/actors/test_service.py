"""ServiceActor lanes and fairness on trio's mock clock. The "provider" is a bounded channel
drained at a fixed rate, as a ProviderActor mailbox is; the route is passed in as a seam.
Then its admission door (``admit`` -> ``Reservation``), with the day as a seam."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest
import trio

from engine.actors.service import ServiceActor
from engine.domain import errors as de
from engine.domain.notification import Outbound
from engine.services import Service
from tests.actors.fakes import email, wait_until


def service(name: str = "svc") -> Service:
    return Service(
        id=uuid.uuid4(), name=name, email_from=name, sending_domain=None, restricted=False,
        active=True, suspended=False, rate_limit=1000, email_daily_limit=10**6,
        sms_daily_limit=10**6, email_annual_limit=10**7, sms_annual_limit=10**7,
        prefix_sms=False, international_sms=False,
    )  # fmt: skip


class Provider:
    """A shared provider mailbox (bounded, FIFO) drained at ``rate`` messages/s."""

    def __init__(self, size: int, rate: float) -> None:
        self.send, self._recv = trio.open_memory_channel[Outbound](size)
        self.rate = rate
        self.received: list[Outbound] = []

    async def route(self, message: Outbound) -> None:
        # As ProviderActor.submit: no task switch while there is room, FIFO wait when full.
        try:
            self.send.send_nowait(message)
        except trio.WouldBlock:
            await self.send.send(message)

    async def drain(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for message in self._recv:
            self.received.append(message)
            await trio.sleep(1 / self.rate)


@asynccontextmanager
async def running(provider: Provider, *actors: ServiceActor) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        await nursery.start(provider.drain)
        for a in actors:
            await nursery.start(a.run)
        yield
        nursery.cancel_scope.cancel()


async def test_priority_email_overtakes_a_50000_bulk_job(autojump_clock: object) -> None:
    provider = Provider(size=100, rate=1000)
    dispatched: list[Outbound] = []

    async def route(message: Outbound) -> None:
        dispatched.append(message)
        await provider.route(message)

    actor = ServiceActor(service(), route, lane_size=60_000)
    for i in range(50_000):
        assert actor.enqueue_nowait(email(i, lane="bulk"))
    urgent = email(-1, lane="priority")
    async with running(provider, actor):
        await trio.sleep(2.0)  # the bulk job is flowing: the provider mailbox is full
        assert len(provider.received) >= 1900
        routed_before, received_before = len(dispatched), len(provider.received)
        assert actor.enqueue_nowait(urgent)
        with trio.fail_after(1):
            await wait_until(lambda: urgent in provider.received, step=0.001)
    # The dispatcher takes it next: at most the one bulk message it was already handing over.
    assert dispatched.index(urgent) - routed_before <= 1
    # Then it waits its turn in the provider's FIFO mailbox only: bounded by the mailbox size.
    assert provider.received.index(urgent) - received_before <= 100 + 1
    assert actor.depth() > 40_000  # the bulk job is far from done


async def test_normal_and_bulk_share_4_to_1_without_idling(autojump_clock: object) -> None:
    provider = Provider(size=10, rate=1000)
    actor = ServiceActor(service(), provider.route, lane_size=2000)
    for i in range(1000):
        actor.enqueue_nowait(email(i, lane="normal"))
        actor.enqueue_nowait(email(i, lane="bulk"))
    async with running(provider, actor):
        with trio.fail_after(10):
            await wait_until(lambda: len(provider.received) == 2000)
    first = provider.received[:500]
    assert sum(m.lane == "normal" for m in first) == 400
    assert sum(m.lane == "bulk" for m in first) == 100
    # Once normal is empty, bulk gets every turn (no idle slots).
    assert [m.lane for m in provider.received[1250:]] == ["bulk"] * 750


async def test_one_services_big_job_cannot_starve_another_service(autojump_clock: object) -> None:
    provider = Provider(size=50, rate=1000)
    big = ServiceActor(service("big"), provider.route, lane_size=30_000)
    small = ServiceActor(service("small"), provider.route)
    for i in range(20_000):
        big.enqueue_nowait(email(i, lane="normal", service=1))
    async with running(provider, big, small):
        await trio.sleep(3.0)
        before = len(provider.received)
        mine = email(0, lane="bulk", service=2)  # even the other service's lowest lane
        assert small.enqueue_nowait(mine)
        with trio.fail_after(1):
            await wait_until(lambda: mine in provider.received, step=0.001)
        # Two services with backlogs alternate one for one in the shared FIFO mailbox.
        for i in range(5000):
            small.enqueue_nowait(email(i, lane="normal", service=2))
        await trio.sleep(1.0)
        start = len(provider.received)
        await trio.sleep(2.0)
        window = provider.received[start:]
    assert provider.received.index(mine) - before <= 50 + 2
    by_service = [sum(m.service_id == uuid.UUID(int=s) for m in window) for s in (2, 3)]
    assert len(window) >= 1900
    assert abs(by_service[0] - by_service[1]) <= 2


async def test_full_lane_refuses_without_blocking() -> None:
    actor = ServiceActor(service(), Provider(size=1, rate=1).route, lane_size=3)
    assert all(actor.enqueue_nowait(email(i, lane="bulk")) for i in range(3))
    assert not actor.enqueue_nowait(email(3, lane="bulk"))
    assert actor.enqueue_nowait(email(4, lane="priority"))  # other lanes are separate
    assert actor.overflowed == 1
    assert actor.depth() == 4


# -- admission: one door (admit -> Reservation) ------------------------------------------
def admitting(**changes: object) -> ServiceActor:
    async def route(message: Outbound) -> None:
        raise AssertionError("not sent")

    return ServiceActor(msgspec.structs.replace(service(), **changes), route)


def test_admit_takes_a_token_per_request_and_refuses_a_suspended_service() -> None:
    actor = admitting(rate_limit=3)  # a burst of 2
    actor.admit("normal", 0.0)
    actor.admit("normal", 0.0)
    with pytest.raises(de.RateLimitExceeded):
        actor.admit("normal", 0.0)
    actor.admit("test", 0.0)  # buckets are per key type
    actor.service = msgspec.structs.replace(actor.service, suspended=True)
    with pytest.raises(de.ServiceSuspended):
        actor.admit("test", 0.0)


def test_take_checks_and_counts_and_release_gives_back() -> None:
    actor = admitting(email_daily_limit=2)
    first = actor.admit("normal", 0.0)
    first.take("email", units=1)
    second = actor.admit("normal", 0.0)
    second.take("email", units=1)
    third = actor.admit("normal", 0.0)
    with pytest.raises(de.EmailDailyLimitExceeded):
        third.take("email", units=1)
    third.release()  # nothing taken, nothing given back
    assert (actor.counts.email_today, actor.counts.email_year) == (2, 2)
    second.release()  # its insert failed
    second.release()  # once only
    assert (actor.counts.email_today, actor.counts.email_year) == (1, 1)
    actor.admit("normal", 0.0).take("email", units=1)  # the place is free again


def test_test_keys_are_rate_limited_but_not_counted() -> None:
    actor = admitting(sms_daily_limit=1)
    for _ in range(5):
        actor.admit("test", 0.0).take("sms", units=3)
    assert (actor.counts.sms_today, actor.counts.sms_year) == (0, 0)
    actor.admit("normal", 0.0).take("sms", units=1)
    assert (actor.counts.sms_today, actor.counts.sms_year) == (1, 1)


def test_bulk_remaining_check_reads_the_counts_without_taking() -> None:
    actor = admitting(email_daily_limit=5)
    actor.counts.email_today = 3
    reservation = actor.admit("normal", 0.0)
    reservation.check_remaining("email", 2)
    with pytest.raises(de.RemainingLimitExceeded):
        reservation.check_remaining("email", 3)
    assert actor.counts.email_today == 3


def test_a_new_day_starts_new_daily_counts() -> None:
    days = iter([dt.date(2026, 6, 1), dt.date(2026, 6, 1), dt.date(2026, 6, 1),
                 dt.date(2026, 6, 2), dt.date(2026, 6, 2)])  # fmt: skip

    async def route(message: Outbound) -> None:
        raise AssertionError("not sent")

    s = msgspec.structs.replace(service(), email_daily_limit=1)
    actor = ServiceActor(s, route, today=lambda: next(days))
    actor.admit("normal", 0.0).take("email", units=1)  # June 1 (with the constructor's read)
    actor.admit("normal", 1.0).take("email", units=1)  # June 2: today's count starts at 0
    assert (actor.counts.day, actor.counts.email_today, actor.counts.email_year) == (
        dt.date(2026, 6, 2), 1, 2
    )  # fmt: skip

"""ServiceActor lanes and fairness on trio's mock clock. The "provider" is a bounded channel
drained at a fixed rate, as a ProviderActor mailbox is; the route is passed in as a seam.
Then its admission door (``admit`` -> ``Reservation``) on leased budgets: the budget store is
``MemoryBudgets`` (the grant rule of ``engine.domain.leases`` on trio's clock), the day a seam."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
import pytest
import trio

from engine.actors.service import ServiceActor
from engine.domain import errors as de
from engine.domain.notification import Outbound
from engine.services import Service
from engine.store.errors import DatabaseUnavailable
from tests.actors.fakes import MemoryBudgets, email, wait_until


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

    actor = ServiceActor(service(), route, MemoryBudgets(), lane_size=60_000)
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
    actor = ServiceActor(service(), provider.route, MemoryBudgets(), lane_size=2000)
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
    big = ServiceActor(service("big"), provider.route, MemoryBudgets(), lane_size=30_000)
    small = ServiceActor(service("small"), provider.route, MemoryBudgets())
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
    actor = ServiceActor(service(), Provider(size=1, rate=1).route, MemoryBudgets(), lane_size=3)
    assert all(actor.enqueue_nowait(email(i, lane="bulk")) for i in range(3))
    assert not actor.enqueue_nowait(email(3, lane="bulk"))
    assert actor.enqueue_nowait(email(4, lane="priority"))  # other lanes are separate
    assert actor.overflowed == 1
    assert actor.depth() == 4


# -- admission: one door (admit -> Reservation), on leased budgets -------------------------
@asynccontextmanager
async def admitting(
    budgets: MemoryBudgets | None = None,
    today: Callable[[], dt.date] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    **changes: object,
) -> AsyncIterator[ServiceActor]:
    async def route(message: Outbound) -> None:
        raise AssertionError("not sent")

    s = msgspec.structs.replace(service(), **changes)
    budgets = budgets if budgets is not None else MemoryBudgets()
    if today is not None:  # noon UTC of that day: its date in every zone from UTC-12 to +11
        day = today
        clock = lambda: dt.datetime.combine(day(), dt.time(12), dt.UTC)  # noqa: E731
    kwargs = {} if clock is None else {"clock": clock}
    actor = ServiceActor(s, route, budgets, **kwargs)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        yield actor
        nursery.cancel_scope.cancel()


def quota(budgets: MemoryBudgets, actor: ServiceActor, kind: str, window: dt.date) -> int:
    return budgets.used.get((actor.service.id, kind, window), 0)


TODAY = dt.date(2026, 6, 1)
YEAR = dt.date(2026, 4, 1)


async def test_admit_takes_a_token_per_request_and_refuses_a_suspended_service(
    autojump_clock: object,
) -> None:
    async with admitting(rate_limit=3) as actor:  # a burst of 2
        await actor.admit("normal")
        await actor.admit("normal")
        with pytest.raises(de.RateLimitExceeded):
            await actor.admit("normal")
        await actor.admit("test")  # buckets are per key type
        await trio.sleep(20)  # one token a 20 s
        await actor.admit("normal")
        actor.service = msgspec.structs.replace(actor.service, suspended=True)
        with pytest.raises(de.ServiceSuspended):
            await actor.admit("test")


async def test_take_checks_and_counts_and_release_gives_back(autojump_clock: object) -> None:
    budgets = MemoryBudgets()
    async with admitting(budgets, lambda: TODAY, email_daily_limit=2) as actor:
        first = await actor.admit("normal")
        await first.take("email", units=1)
        second = await actor.admit("normal")
        await second.take("email", units=1)
        third = await actor.admit("normal")
        with pytest.raises(de.EmailDailyLimitExceeded):
            await third.take("email", units=1)
        third.release()  # nothing taken, nothing given back
        assert quota(budgets, actor, "daily:email", TODAY) == 2
        second.release()  # its insert failed: the unit is back in this process's block
        second.release()  # once only
        await (await actor.admit("normal")).take("email", units=1)  # the place is free again
        with pytest.raises(de.EmailDailyLimitExceeded):
            await (await actor.admit("normal")).take("email", units=1)
    assert quota(budgets, actor, "daily:email", TODAY) == 2
    assert quota(budgets, actor, "annual:email", YEAR) == 2


async def test_test_keys_are_rate_limited_but_not_counted(autojump_clock: object) -> None:
    budgets = MemoryBudgets()
    async with admitting(budgets, lambda: TODAY, sms_daily_limit=1) as actor:
        for _ in range(5):
            await (await actor.admit("test")).take("sms", units=3)
        assert budgets.used == {}
        await (await actor.admit("normal")).take("sms", units=1)
        with pytest.raises(de.SmsDailyLimitExceeded):
            await (await actor.admit("normal")).take("sms", units=1)
    assert quota(budgets, actor, "daily:sms", TODAY) == 1


async def test_bulk_remaining_check_reads_the_deployment_wide_budget(
    autojump_clock: object,
) -> None:
    budgets = MemoryBudgets()
    async with admitting(budgets, lambda: TODAY, email_daily_limit=5) as actor:
        budgets.used[(actor.service.id, "daily:email", TODAY)] = 3  # other processes' use
        reservation = await actor.admit("normal")
        await reservation.load_remaining()
        reservation.check_remaining("email", 2)
        with pytest.raises(de.RemainingLimitExceeded):
            reservation.check_remaining("email", 3)
        await reservation.take("email", units=2, messages=2)  # a whole sheet, granted whole
        assert quota(budgets, actor, "daily:email", TODAY) == 5


async def test_a_new_day_leases_from_a_new_daily_budget(autojump_clock: object) -> None:
    day = [TODAY]
    budgets = MemoryBudgets()
    async with admitting(budgets, lambda: day[0], email_daily_limit=1) as actor:
        await (await actor.admit("normal")).take("email", units=1)
        day[0] = TODAY + dt.timedelta(days=1)
        await (await actor.admit("normal")).take("email", units=1)  # June 2: a new budget
    assert quota(budgets, actor, "daily:email", TODAY) == 1
    assert quota(budgets, actor, "daily:email", day[0]) == 1
    assert quota(budgets, actor, "annual:email", YEAR) == 2


async def test_the_fast_path_makes_no_round_trip_and_tops_up_before_running_dry(
    autojump_clock: object,
) -> None:
    budgets = MemoryBudgets()
    async with admitting(budgets, lambda: TODAY, rate_limit=100_000) as actor:
        for _ in range(2000):  # 100 requests/s for 20 s
            await (await actor.admit("normal")).take("email", units=1)
            await trio.sleep(0.01)
        waited = 0
        for _ in range(100):  # later: every request finds its blocks ready, none waits
            before = len(budgets.leases)
            r = await actor.admit("normal")
            await r.take("email", units=1)
            waited += len(budgets.leases) != before
            await trio.sleep(0.01)
    # Blocks of about a second of demand: ~1 lease a second (all budgets in one round).
    assert len(budgets.leases) <= 2000 / 100 + 5
    assert waited <= 2  # a lease happened during a request at most at a round's edge


async def test_two_processes_never_over_grant_and_spend_the_whole_budget(
    autojump_clock: object,
) -> None:
    budgets = MemoryBudgets(lessees=2)
    sid = uuid.uuid4()
    admitted = [0, 0]
    limits = {"id": sid, "email_daily_limit": 1000, "rate_limit": 100_000}
    async with (
        admitting(budgets, lambda: TODAY, **limits) as a,
        admitting(budgets, lambda: TODAY, **limits) as b,
    ):
        for i in range(1500):  # round robin, more than the limit
            try:
                await (await (a, b)[i % 2].admit("normal")).take("email", units=1)
                admitted[i % 2] += 1
            except de.EmailDailyLimitExceeded:
                pass
            await trio.sleep(0.002)
        assert budgets.used[(sid, "daily:email", TODAY)] == 1000
    # Stopping gave back what each process held unspent.
    assert sum(admitted) <= 1000
    assert sum(admitted) >= 950  # stranded blocks cost at most 5%
    assert budgets.used[(sid, "daily:email", TODAY)] == sum(admitted)


async def test_an_idle_block_goes_back_to_the_table(autojump_clock: object) -> None:
    budgets = MemoryBudgets()
    async with admitting(budgets, lambda: TODAY) as actor:
        for _ in range(50):
            await (await actor.admit("normal")).take("email", units=1)
        assert quota(budgets, actor, "daily:email", TODAY) > 50  # a block is held
        await trio.sleep(15)
        assert quota(budgets, actor, "daily:email", TODAY) == 50


async def test_an_unreachable_database_refuses_only_when_a_block_is_empty(
    autojump_clock: object,
) -> None:
    budgets = MemoryBudgets()
    async with admitting(budgets, lambda: TODAY) as actor:
        await (await actor.admit("normal")).take("email", units=1)
        budgets.down = True
        await (await actor.admit("normal")).take("email", units=1)  # from the block
        refused = None
        for _ in range(10_000):
            try:
                await (await actor.admit("normal")).take("email", units=1)
            except DatabaseUnavailable as exc:
                refused = exc
                break
        assert refused is not None
        budgets.down = False
        await trio.sleep(1)
        await (await actor.admit("normal")).take("email", units=1)


async def test_a_services_daily_window_turns_at_its_local_midnight(autojump_clock: object) -> None:
    """Issue 22: America/Toronto in winter is UTC-5, so its day D ends at 05:00 UTC; a UTC
    service (GC's reset) is on day D+1 since midnight UTC already."""
    at = [dt.datetime(2026, 1, 16, 4, 59, tzinfo=dt.UTC)]
    budgets = MemoryBudgets()
    async with (
        admitting(budgets, clock=lambda: at[0], time_zone="America/Toronto") as toronto,
        admitting(budgets, clock=lambda: at[0]) as utc,
    ):
        for actor in (toronto, utc):
            await (await actor.admit("normal")).take("email", units=1)
        at[0] = dt.datetime(2026, 1, 16, 5, 0, tzinfo=dt.UTC)
        for actor in (toronto, utc):
            await (await actor.admit("normal")).take("email", units=1)
    day, next_day = dt.date(2026, 1, 15), dt.date(2026, 1, 16)
    assert toronto.today() == utc.today() == next_day
    # Day D's block was leased (and dropped unspent at the turn: the lease bound's error).
    assert quota(budgets, toronto, "daily:email", day) >= 1
    assert quota(budgets, toronto, "daily:email", next_day) == 1  # the rest given back
    assert quota(budgets, utc, "daily:email", day) == 0
    assert quota(budgets, utc, "daily:email", next_day) == 2

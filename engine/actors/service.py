"""ServiceActor: one per service with traffic. Admission from leased budgets, then lanes.

Rules:
- Admission goes through one door, ``admit``, which returns a ``Reservation``; the rules
  themselves are pure functions in ``engine.domain.admission`` and refusals are
  ``engine.domain.errors`` (this actor knows nothing of HTTP).
- Limits are deployment-wide (``engine.domain.leases``: the rules, the accuracy bound and
  the cost): the rate bucket and the daily and annual quotas are rows in PostgreSQL, and
  this actor holds a leased block of each (``_Block``) and spends from it in memory.
  ``admit`` / ``Reservation.take`` are coroutines whose fast path never yields: when
  every block they need holds enough, they check and spend with no checkpoint in
  between (atomic under trio, no lock) and no round trip. Only a request that finds a
  block short waits, for at most ``LEASE_WAIT_S``, for the actor's leaser task; a database
  that cannot answer in that time raises ``DatabaseUnavailable`` (the API's 503).
- One leaser task per actor (``run``) makes every lease: a round gathers the needs of
  all waiting requests and the budgets under their low-water mark, and leases them in one
  statement (``engine.store.budgets``), so a burst of short requests costs one round trip,
  and a request that is cancelled while waiting loses nothing (the grant lands in the
  block). A block nobody spent from for ``IDLE_GIVE_BACK_S`` goes back to the table; so
  does every block when the actor stops gracefully (``give_back_all``).
- A budget the table could not serve is refused from memory for a short while
  (``engine.domain.leases.retry_after``): a flood of refused requests makes no round trips.
- ``admit`` takes the request's rate-limit token (GC checks it before the template);
  ``take`` checks and counts the daily and annual budgets once the message is rendered
  (SMS fragments are known then); ``release`` gives the counts back to the blocks if the
  insert fails. A spent token is never given back (GC counts failed requests too).
- Test keys are not counted against daily or annual limits (GC), but are rate limited.
- The daily and annual windows are the service's local dates (``today``: the clock's UTC
  instant in the service's ``time_zone``, ``engine.domain.timezones``): its daily limits
  reset at its local midnight (GC: UTC midnight), and a past window's block is dropped at
  the next round.
- Lanes (priority / normal / bulk) are bounded channels. ``enqueue_nowait`` never blocks the
  API: if a lane is full the notification stays ``created`` in the database and the recovery
  sweep sends it later (it is durable already).
- The dispatcher always drains priority first, then normal and bulk in a 4:1 ratio, and
  hands messages to provider actors; a full provider mailbox blocks it (backpressure). Many
  services' dispatchers wait on one provider mailbox in FIFO order, which keeps one busy
  service from starving another.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import trio

from engine.domain import admission, leases, team_mail
from engine.domain import errors as de
from engine.domain.admission import Counts, Need
from engine.domain.leases import BudgetKey, GiveBack, LeaseGrant, LeaseRequest
from engine.domain.notification import Outbound
from engine.domain.team_mail import Notice
from engine.domain.timestamps import utcnow
from engine.domain.timezones import day_start, local_date
from engine.metrics import ADMISSION_REJECTIONS, observe_mailbox
from engine.services import Service
from engine.store.errors import DatabaseUnavailable, only_unavailability

log = logging.getLogger("engine.actors.service")

LANES = ("priority", "normal", "bulk")
Route = Callable[[Outbound], Awaitable[None]]
LEASE_WAIT_S = 5.0  # how long a request waits for a lease before the API answers 503
_LEASE_ROUNDS = 4  # a short request re-leases at most this often before it is refused

# The ``reason`` label of a refusal in ``notify_admission_rejections_total``.
_REJECTION_REASONS: tuple[tuple[type[de.DomainError], str], ...] = (
    (de.RateLimitExceeded, "rate_limit"),
    (de.TrialEmailDailyLimitExceeded, "trial_daily"),
    (de.TrialSmsDailyLimitExceeded, "trial_daily"),
    (de.DailyLimitExceeded, "daily_limit"),
    (de.AnnualLimitExceeded, "annual_limit"),
)


class BudgetStore(Protocol):
    """The store's ``budgets`` subject (``engine.store.budgets``)."""

    async def lease(
        self,
        service_id: uuid.UUID,
        requests: Sequence[LeaseRequest],
        *,
        today: dt.date,
        time_zone: str = "UTC",
    ) -> list[LeaseGrant]: ...

    async def give_back(self, service_id: uuid.UUID, returns: Sequence[GiveBack]) -> None: ...


def _observe(exc: de.DomainError) -> None:
    for cls, reason in _REJECTION_REASONS:
        if isinstance(exc, cls):
            ADMISSION_REJECTIONS.labels(reason).inc()
            return


class _Block:
    """What this process holds of one budget: leased, not yet spent."""

    __slots__ = ("available", "demand", "held", "limit", "noticed", "refused_until", "spent_at")

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.held = 0
        self.demand = leases.Demand(now)
        self.refused_until = -1.0  # trio time until which the table is known to be dry
        self.spent_at = now
        self.available = 0.0  # what the table had left after our last lease
        self.noticed = ""  # the last team notice this block raised (near / reached)


class _Round:
    """One lease round's outcome, for the requests that waited on it."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.error: BaseException | None = None


class Reservation:
    """One admitted request's hold on its service's budgets: ``take`` counts its messages
    (after checking them), ``release`` gives back what ``take`` counted."""

    __slots__ = ("_actor", "_remaining", "_taken", "key_type")

    def __init__(self, actor: ServiceActor, key_type: str) -> None:
        self._actor = actor
        self.key_type = key_type
        self._taken: list[Need] | None = None
        self._remaining: Counts | None = None

    async def load_remaining(self) -> None:
        """Bulk: read what the budgets have left deployment-wide (one lease round that
        takes nothing), for ``check_remaining``."""
        if self.key_type != "test":
            self._remaining = await self._actor.remaining()

    def check_remaining(self, channel: str, messages: int) -> None:
        """Bulk: refuse a sheet of more rows than the budgets have left (nothing counted);
        ``load_remaining`` first."""
        a = self._actor
        counts = self._remaining if self._remaining is not None else Counts(a.today())
        admission.check_remaining(a.service, counts, self.key_type, channel, messages)

    async def take(self, channel: str, units: int, messages: int = 1) -> None:
        """Check and count ``messages`` (``units`` SMS fragments) against the budgets."""
        assert self._taken is None, "a reservation is taken once"
        a = self._actor
        needs = admission.quota_needs(a.service, self.key_type, channel, units, messages, a.today())
        await a.spend(needs, self.key_type, channel)
        self._taken = needs

    def release(self) -> None:
        """Give back what ``take`` counted (the insert that followed it failed)."""
        if self._taken is not None:
            needs, self._taken = self._taken, None
            self._actor.unspend(needs)


class ServiceActor:
    def __init__(
        self,
        service: Service,
        route: Route,
        budgets: BudgetStore,
        *,
        lane_size: int = 20_000,
        clock: Callable[[], dt.datetime] = utcnow,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        self.service = service
        self._on_notice = on_notice
        self._route = route
        self._budgets = budgets
        self._clock = clock  # the UTC instant now; a seam for tests
        self._blocks: dict[BudgetKey, _Block] = {}
        # Waiting requests' needs per budget: (the largest one, their sum).
        self._wanted: dict[BudgetKey, tuple[int, int]] = {}
        self._round = _Round()  # the next lease round, which waiting requests wait for
        self._returns: dict[BudgetKey, GiveBack] = {}  # to give back in the next round
        self._wake = trio.Event()
        self._lanes = {lane: trio.open_memory_channel[Outbound](lane_size) for lane in LANES}
        self.overflowed = 0
        self._ready = trio.Event()
        # today()'s answer, kept until the next local midnight (or a change of zone): the
        # zone conversion on every request cost ~2 us of admission (py-spy, bench/api.py).
        self._day: tuple[str, dt.date, dt.datetime, dt.datetime] | None = None

    def today(self) -> dt.date:
        """The service's local date: its daily and annual budgets' window."""
        now = self._clock()
        zone = self.service.time_zone
        day = self._day
        if day is None or day[0] != zone or not day[2] <= now < day[3]:
            date = local_date(now, zone)
            start, end = day_start(date, zone), day_start(date + dt.timedelta(days=1), zone)
            self._day = day = (zone, date, start, end)
        return day[1]

    # -- admission --------------------------------------------------------------------
    async def admit(self, key_type: str) -> Reservation:
        """Admit one request: its rate-limit token, then the service must not be
        suspended. Raises the ``DomainError`` that refuses it."""
        await self.spend([admission.rate_need(self.service, key_type)], key_type, "")
        admission.check_active(self.service)
        return Reservation(self, key_type)

    async def spend(self, needs: Sequence[Need], key_type: str, channel: str) -> None:
        """Take every need from its block, or none; lease when a block is short."""
        for attempt in range(_LEASE_ROUNDS):
            now = trio.current_time()
            short = [n for n in needs if self._block(n, now).held < n.amount]
            if not short:  # the fast path: no checkpoint from the check to the count
                for n in needs:
                    self._spent(n, now)
                return
            refused = [n for n in short if self._blocks[n.key].refused_until > now]
            if refused or attempt == _LEASE_ROUNDS - 1:
                exc = admission.refusal(
                    (refused or short)[0], key_type, channel, restricted=self.service.restricted
                )
                _observe(exc)
                raise exc
            await self._lease_for(short)

    def given_back(self, keys: Sequence[BudgetKey]) -> None:
        """Units of these budgets went back to the table (a cancelled job): ask it again
        rather than refuse from memory until the dry mark runs out."""
        for key in keys:
            block = self._blocks.get(key)
            if block is not None:
                block.refused_until = -1.0

    def unspend(self, needs: Sequence[Need]) -> None:
        """Put back what ``spend`` took (a refused insert): it stays in this process's blocks."""
        now = trio.current_time()
        for n in needs:
            self._block(n, now).held += n.amount

    async def remaining(self) -> Counts:
        """What the budgets have used deployment-wide, less what this process holds unspent
        (other processes' blocks count as used): one lease round that takes nothing."""
        today = self.today()
        counts = Counts(today)
        needs = admission.quota_needs(self.service, "normal", "email", 0, 0, today)
        needs += admission.quota_needs(self.service, "normal", "sms", 0, 0, today)
        grants = await self._budgets.lease(
            self.service.id,
            [LeaseRequest(n.key.kind, n.key.window, n.limit, 0, 0) for n in needs],
            today=today,
            time_zone=self.service.time_zone,
        )
        limits = {n.key.kind: n.limit for n in needs}
        used: dict[str, int] = {}
        for g in grants:
            block = self._blocks.get(BudgetKey(g.kind, g.window))
            held = block.held if block is not None else 0
            used[g.kind] = max(0, limits[g.kind] - int(g.available) - held)
        counts.email_today = used.get("daily:email", 0)
        counts.sms_today = used.get("daily:sms", 0)
        counts.email_year = used.get("annual:email", 0)
        counts.sms_year = used.get("annual:sms", 0)
        return counts

    def _block(self, need: Need, now: float) -> _Block:
        block = self._blocks.get(need.key)
        if block is None:
            block = self._blocks[need.key] = _Block(need.limit, now)
        elif block.limit != need.limit:
            # The admin API changed the limit: what this block holds was leased under the old
            # one, so it goes back (the next round, before its leases) and the table decides.
            if block.held > 0:
                back = self._returns.get(need.key)
                amount = block.held + (back.amount if back is not None else 0)
                self._returns[need.key] = GiveBack(
                    need.key.kind, need.key.window, need.limit, amount
                )
            block.limit, block.held, block.refused_until = need.limit, 0, -1.0
        return block

    def _spent(self, need: Need, now: float) -> None:
        block = self._blocks[need.key]
        block.held -= need.amount
        block.spent_at = now
        block.demand.spent(need.amount, now)
        if leases.low(block.held, block.demand.chunk()) and block.refused_until <= now:
            self._wake.set()  # top up in the background before it runs dry

    async def _lease_for(self, short: Sequence[Need]) -> None:
        """Wait (bounded) for the next lease round, which includes these needs."""
        for n in short:
            most, total = self._wanted.get(n.key, (0, 0))
            self._wanted[n.key] = (max(most, n.amount), total + n.amount)
        round_ = self._round
        self._wake.set()
        with trio.move_on_after(LEASE_WAIT_S):
            await round_.done.wait()
        if not round_.done.is_set():
            raise DatabaseUnavailable("no budget lease within the wait")
        if round_.error is not None:
            if only_unavailability(round_.error):
                raise DatabaseUnavailable("budget lease failed") from round_.error
            raise RuntimeError("budget lease failed") from round_.error

    # -- the leaser: every round trip for the budgets ------------------------------------
    async def _leaser(self) -> None:
        while True:
            with trio.move_on_after(leases.IDLE_GIVE_BACK_S):
                await self._wake.wait()
            self._wake = trio.Event()
            await self._give_back(idle_for=leases.IDLE_GIVE_BACK_S)
            round_, self._round = self._round, _Round()
            wanted, self._wanted = self._wanted, {}
            requests = self._requests(wanted, trio.current_time())
            if requests:
                try:
                    grants = await self._budgets.lease(
                        self.service.id,
                        requests,
                        today=self.today(),
                        time_zone=self.service.time_zone,
                    )
                except Exception as exc:  # the waiters raise it (503 when unavailable)
                    round_.error = exc
                    if not only_unavailability(exc):
                        log.exception("budget lease failed")
                else:
                    self._apply(requests, grants, trio.current_time())
            round_.done.set()
            if round_.error is not None:
                await trio.sleep(0.1)  # an outage: no hot loop of failing leases

    def _requests(self, wanted: dict[BudgetKey, tuple[int, int]], now: float) -> list[LeaseRequest]:
        today = self.today()
        requests = []
        for key, block in list(self._blocks.items()):
            if not leases.current(key, today):
                del self._blocks[key]  # a past day's or year's block: nothing to spend it on
                continue
            most, total = wanted.get(key, (0, 0))
            chunk = block.demand.chunk()
            need = max(0, most - block.held)
            topping_up = (  # once a round is made, every block under one chunk joins it
                block.held < chunk
                and block.refused_until <= now
                and now - block.spent_at < leases.IDLE_GIVE_BACK_S  # not for an idle block
            )
            if need == 0 and not topping_up:
                continue
            want = max(need, total - block.held + 2 * chunk)  # fill to two chunks
            requests.append(LeaseRequest(key.kind, key.window, block.limit, need, want))
        return requests

    def _apply(
        self, requests: Sequence[LeaseRequest], grants: Sequence[LeaseGrant], now: float
    ) -> None:
        asked = {(r.kind, r.window): r for r in requests}
        for g in grants:
            key = BudgetKey(g.kind, g.window)
            block = self._blocks.get(key)
            request = asked[key]
            if block is None:  # dropped while the lease was in flight (a new day)
                continue
            block.held += g.granted
            block.available = g.available
            if self._on_notice is not None and not leases.is_rate(g.kind):
                self._notice_usage(key, block)
            if g.granted < request.need or (g.granted == 0 and g.available < 1):
                block.refused_until = now + leases.retry_after(
                    g.kind, block.limit, g.available, max(1, request.need)
                )
            else:
                block.refused_until = -1.0

    def _notice_usage(self, key: BudgetKey, block: _Block) -> None:
        """The team's 80% / 100% notice of a daily or annual limit (``engine.domain.
        team_mail``): the table's usage is the limit less what it had left after this lease
        (other processes' unspent blocks count as used: they are, within the lease bound)."""
        assert self._on_notice is not None
        used = block.limit - int(block.available)
        notice = team_mail.limit_notice(
            self.service.id, self.service.name, key.kind, key.window, used, block.limit,
            time_zone=self.service.time_zone,
        )  # fmt: skip
        if notice is not None and notice.template != block.noticed:
            block.noticed = notice.template
            self._on_notice(notice)

    async def _give_back(self, *, idle_for: float) -> None:
        """Return the blocks nobody spent from for ``idle_for`` seconds to the table."""
        now = trio.current_time()
        returns = {
            key: GiveBack(key.kind, key.window, block.limit, block.held)
            for key, block in self._blocks.items()
            if block.held > 0 and now - block.spent_at >= idle_for and key not in self._wanted
        }
        changed, self._returns = self._returns, {}
        if not returns and not changed:
            return
        for key in returns:
            self._blocks[key].held = 0
        try:
            await self._budgets.give_back(self.service.id, [*returns.values(), *changed.values()])
        except Exception as exc:
            for key, back in returns.items():  # not returned: still ours to spend
                if key in self._blocks:
                    self._blocks[key].held += back.amount
            for key, back in changed.items():  # leased under an old limit: try again later
                self._returns.setdefault(key, back)
            if not only_unavailability(exc):
                raise

    async def give_back_all(self) -> None:
        """A graceful stop: every unspent block goes back to the table (bounded)."""
        with trio.CancelScope(shield=True), trio.move_on_after(2.0):
            await self._give_back(idle_for=0.0)

    # -- lanes ------------------------------------------------------------------------
    def enqueue_nowait(self, message: Outbound) -> bool:
        try:
            self._lanes[message.lane][0].send_nowait(message)
        except trio.WouldBlock:
            self.overflowed += 1
            return False
        self._ready.set()
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._leaser)
                task_status.started()
                await self._dispatch()
        finally:
            await self.give_back_all()

    async def _dispatch(self) -> None:
        priority, normal, bulk = (self._lanes[lane][1] for lane in LANES)
        turn = 0
        while True:
            if self._ready.is_set():
                self._ready = trio.Event()
            message = _take(priority)
            if message is None:
                first, second = (normal, bulk) if turn % 5 else (bulk, normal)
                message = _take(first) or _take(second)
            if message is None:
                if self.depth() == 0:
                    await self._ready.wait()
                continue
            turn += 1
            await self._route(message)
            if turn % 64 == 0:
                # A route with room returns without a task switch; let others run.
                await trio.lowlevel.checkpoint()
            if turn % 256 == 0:
                observe_mailbox("service", normal.statistics())

    def depth(self) -> int:
        return sum(r.statistics().current_buffer_used for _, r in self._lanes.values())


def _take(recv: trio.MemoryReceiveChannel[Outbound]) -> Outbound | None:
    try:
        return recv.receive_nowait()
    except trio.WouldBlock:
        return None

"""ServiceActor: one per service with traffic. Admission from memory, then priority lanes.

Rules:
- Admission goes through one door, ``admit``, which returns a ``Reservation``; the rules
  themselves are pure functions in ``engine.domain.admission`` and refusals are
  ``engine.domain.errors`` (this actor knows nothing of HTTP).
- ``admit`` and ``Reservation.take`` are synchronous: under trio nothing else runs between
  a check and its count, so they are atomic without a lock, and the API's admission costs
  no database round trip. Counts of today's and this fiscal year's messages are loaded
  once when the actor starts.
- ``admit`` takes the request's rate-limit token (GC checks it before the template);
  ``take`` checks and counts the daily and annual budgets once the message is rendered
  (SMS fragments are known then); ``release`` gives the counts back if the insert fails.
  A spent token is never given back (GC counts failed requests too).
- Test keys are not counted against daily or annual limits (GC), but are rate limited.
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
from collections.abc import Awaitable, Callable

import trio

from engine.domain import admission
from engine.domain import errors as de
from engine.domain.admission import Counts
from engine.domain.limits import TokenBucket
from engine.domain.notification import Outbound
from engine.metrics import ADMISSION_REJECTIONS, observe_mailbox
from engine.services import Service

LANES = ("priority", "normal", "bulk")
Route = Callable[[Outbound], Awaitable[None]]

# The ``reason`` label of a refusal in ``notify_admission_rejections_total``.
_REJECTION_REASONS: tuple[tuple[type[de.DomainError], str], ...] = (
    (de.RateLimitExceeded, "rate_limit"),
    (de.TrialDailyLimitExceeded, "trial_daily"),
    (de.DailyLimitExceeded, "daily_limit"),
    (de.AnnualLimitExceeded, "annual_limit"),
)


def _observe(exc: de.DomainError) -> None:
    for cls, reason in _REJECTION_REASONS:
        if isinstance(exc, cls):
            ADMISSION_REJECTIONS.labels(reason).inc()
            return


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Reservation:
    """One admitted request's hold on its service's budgets: ``take`` counts its messages
    (after checking them), ``release`` gives back what ``take`` counted."""

    __slots__ = ("_actor", "_taken", "key_type")

    def __init__(self, actor: ServiceActor, key_type: str) -> None:
        self._actor = actor
        self.key_type = key_type
        self._taken: tuple[str, int, int] | None = None

    def check_remaining(self, channel: str, messages: int) -> None:
        """Bulk: refuse a sheet of more rows than the budgets have left (nothing counted)."""
        a = self._actor
        admission.check_remaining(a.service, a.counts, self.key_type, channel, messages)

    def take(self, channel: str, units: int, messages: int = 1) -> None:
        """Check and count ``messages`` (``units`` SMS fragments): synchronous, so atomic."""
        assert self._taken is None, "a reservation is taken once"
        a = self._actor
        a.counts = admission.rolled(a.counts, a.today())
        try:
            admission.check_quota(a.service, a.counts, self.key_type, channel, units, messages)
        except de.DomainError as exc:
            _observe(exc)
            raise
        admission.add(a.counts, self.key_type, channel, units, messages)
        self._taken = (channel, units, messages)

    def release(self) -> None:
        """Give back what ``take`` counted (the insert that followed it failed)."""
        if self._taken is not None:
            channel, units, messages = self._taken
            self._taken = None
            admission.add(self._actor.counts, self.key_type, channel, -units, -messages)


class ServiceActor:
    def __init__(
        self,
        service: Service,
        route: Route,
        *,
        lane_size: int = 20_000,
        today: Callable[[], dt.date] = _today,
    ) -> None:
        self.service = service
        self._route = route
        self._buckets: dict[str, TokenBucket] = {}
        self.today = today  # the UTC date; a seam for tests
        self.counts = Counts(today())
        self._lanes = {lane: trio.open_memory_channel[Outbound](lane_size) for lane in LANES}
        self.overflowed = 0
        self._ready = trio.Event()

    # -- admission (synchronous, atomic under trio) -----------------------------------
    def admit(self, key_type: str, now: float) -> Reservation:
        """Admit one request (``now``: trio time): its rate-limit token, then the service
        must not be suspended. Raises the ``DomainError`` that refuses it."""
        try:
            admission.take_token(self._buckets, key_type, self.service.rate_limit, now)
        except de.DomainError as exc:
            _observe(exc)
            raise
        admission.check_active(self.service)
        self.counts = admission.rolled(self.counts, self.today())
        return Reservation(self, key_type)

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
        task_status.started()
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

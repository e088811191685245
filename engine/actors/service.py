"""ServiceActor: one per service with traffic. Admission from memory, then priority lanes.

Rules:
- ``admit`` is synchronous: under trio nothing else runs between its check and its count,
  so it is atomic without a lock, and the API's admission costs no database round trip.
  Counts of today's and this fiscal year's messages are loaded once when the actor starts.
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

from engine.api.errors import ApiError, RateLimitError, TooManyRequestsError
from engine.domain.limits import TRIAL_DAILY_LIMIT, TokenBucket, rate_limit_message
from engine.metrics import ADMISSION_REJECTIONS, observe_mailbox
from engine.providers.base import Outbound
from engine.services import Service

LANES = ("priority", "normal", "bulk")
Route = Callable[[Outbound], Awaitable[None]]


class Counts:
    __slots__ = ("day", "email_today", "email_year", "sms_today", "sms_year")

    def __init__(self, day: dt.date) -> None:
        self.day = day
        self.email_today = self.sms_today = self.email_year = self.sms_year = 0


class ServiceActor:
    def __init__(self, service: Service, route: Route, *, lane_size: int = 20_000) -> None:
        self.service = service
        self._route = route
        self._buckets: dict[str, TokenBucket] = {}
        self.counts = Counts(dt.datetime.now(dt.UTC).date())
        self._lanes = {lane: trio.open_memory_channel[Outbound](lane_size) for lane in LANES}
        self.overflowed = 0
        self._ready = trio.Event()

    # -- admission (synchronous, atomic under trio) -----------------------------------
    def check_rate(self, key_type: str, now: float) -> None:
        bucket = self._buckets.get(key_type)
        if bucket is None or bucket.rate != self.service.rate_limit / 60.0:
            # New, or the admin API changed the limit: a bucket for the current one.
            bucket = self._buckets[key_type] = TokenBucket(self.service.rate_limit, now)
        if not bucket.take(now):
            ADMISSION_REJECTIONS.labels("rate_limit").inc()
            raise RateLimitError(rate_limit_message(key_type, self.service.rate_limit))

    def check_quota(self, channel: str, key_type: str, units: int, messages: int = 1) -> None:
        """Raise if ``messages`` more (``units`` SMS fragments) would pass a limit."""
        if key_type == "test":
            return
        self._roll_day()
        s, c = self.service, self.counts
        if s.restricted and (c.email_today + c.sms_today + messages) > TRIAL_DAILY_LIMIT:
            ADMISSION_REJECTIONS.labels("trial_daily").inc()
            raise TooManyRequestsError(
                f"Exceeded send limits ({channel}: {TRIAL_DAILY_LIMIT}) for today"
            )
        if channel == "email":
            if c.email_today + messages > s.email_daily_limit:
                ADMISSION_REJECTIONS.labels("daily_limit").inc()
                raise _quota(
                    "LiveServiceTooManyEmailRequestsError",
                    f"Exceeded email daily sending limit of {s.email_daily_limit} messages",
                )
            if c.email_year + messages > s.email_annual_limit:
                ADMISSION_REJECTIONS.labels("annual_limit").inc()
                raise _quota(
                    "LiveServiceTooManyEmailRequestsError",
                    f"Exceeded annual email sending limit of {s.email_annual_limit} messages",
                )
        else:
            if c.sms_today + units > s.sms_daily_limit:
                ADMISSION_REJECTIONS.labels("daily_limit").inc()
                raise _quota(
                    "LiveServiceTooManySMSRequestsError",
                    f"Exceeded SMS daily sending limit of {s.sms_daily_limit} fragments",
                )
            if c.sms_year + messages > s.sms_annual_limit:
                ADMISSION_REJECTIONS.labels("annual_limit").inc()
                raise _quota(
                    "LiveServiceTooManySMSRequestsError",
                    f"Exceeded annual SMS sending limit of {s.sms_annual_limit} messages",
                )

    def count(self, channel: str, key_type: str, units: int, messages: int = 1) -> None:
        if key_type == "test":
            return
        self._roll_day()
        if channel == "email":
            self.counts.email_today += messages
            self.counts.email_year += messages
        else:
            self.counts.sms_today += units
            self.counts.sms_year += messages

    def uncount(self, channel: str, key_type: str, units: int, messages: int = 1) -> None:
        """Give back what ``count`` took when the insert that followed it failed."""
        self.count(channel, key_type, -units, -messages)

    def _roll_day(self) -> None:
        today = dt.datetime.now(dt.UTC).date()
        if today != self.counts.day:
            year = self.counts.email_year, self.counts.sms_year
            self.counts = Counts(today)
            if today.month != 4 or today.day != 1:
                self.counts.email_year, self.counts.sms_year = year

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


def _quota(name: str, message: str) -> ApiError:
    return TooManyRequestsError(message, wire_name=name)

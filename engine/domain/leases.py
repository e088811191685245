"""Budget leases: how a process takes a share of a deployment-wide limit. Pure: time and
counts are arguments, so tests need no clock and no database.

Rules:
- Every limit of a service is a *budget* held in PostgreSQL, one row per (service, kind,
  window) (``engine.store.budgets``): ``rate:<key type>`` (a token bucket, GOV.UK's shape
  from ``engine.domain.limits``; window ``RATE_WINDOW``), ``daily:email`` /
  ``daily:sms`` (SMS: fragments; a trial service's days are at most 50 each; window:
  the service's local date, in its time zone: the daily limits reset at its local
  midnight, ``engine.domain.timezones``), ``annual:email`` (messages) / ``annual:sms``
  (fragments; window: the fiscal year's April 1, local likewise).
- A process never asks the database per request. It *leases* a block (``grant``) and
  spends it from memory; it asks again in the background when what it holds falls under
  the low-water mark (``low``), and only a request that finds its block empty waits for a
  lease.
- ``grant``: the table never hands out more than it has (a quota's ``limit - used``, a
  bucket's refilled tokens), and a request's own need is granted whole or not at all
  (a bulk job is not half admitted). Beyond the need, a process gets at most
  ``(available - need) / (2 * lessees)``: the blocks shrink as the budget runs out, so the
  share other processes hold unused (stranded) is at most half of what was left when they
  leased, and the last units are leased one by one.
- Accuracy: the total admitted never exceeds the limit (quotas) or the bucket (capacity +
  rate x time), at any number of processes: every admitted unit was taken from the row
  under its lock. The error is one-sided: units leased but not spent. A graceful stop and
  an idle block (``IDLE_GIVE_BACK_S``) give them back; a crashed process loses at most its
  last blocks, each under ``MAX_CHUNK`` and under half of what was left.
- Cost: a block is sized to the process's own recent demand (``Demand``: about
  ``HORIZON_S`` of it, at least ``MIN_CHUNK``); a round tops every block under one chunk
  up to two chunks, all of a service's budgets in one statement, so a busy process makes
  about one lease round trip a second per service (measured with trio's mock clock: 22
  rounds for 2,100 requests at 100/s, tests/actors/test_service.py): ~1 per 1,000
  requests at 1,000 requests/s; a quiet one at most one per ``MIN_CHUNK`` requests.
  Near the end of a budget the blocks shrink to the need: the last ``2 x lessees`` units
  cost a round trip each, which is what holds the bound.
- A budget the table could not serve (``exhausted``) is refused from memory for
  ``retry_after`` seconds (a bucket: until its next token; a quota: ``EXHAUSTED_RETRY_S``,
  since another process may give units back), so a flood of refused requests costs no
  round trips either.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

import msgspec

from engine.domain.limits import TOKEN_BUCKET_MAX, fiscal_year_start

RATE_WINDOW = dt.date(2000, 1, 1)  # a rate bucket has no window: one row per service and key
HORIZON_S = 1.0  # a block is about this many seconds of the process's own demand
MIN_CHUNK = 8
MAX_CHUNK = 1000
EXHAUSTED_RETRY_S = 1.0  # how long a quota the table refused is refused from memory
IDLE_GIVE_BACK_S = 5.0  # a block nobody spent from for this long goes back to the table
_DEMAND_TAU_S = 2.0  # the demand estimate forgets with this time constant


class BudgetKey(NamedTuple):
    kind: str
    window: dt.date


class LeaseRequest(msgspec.Struct, frozen=True):
    """Ask for ``need`` units (0: a background top-up) and up to ``want`` in all."""

    kind: str
    window: dt.date
    limit: int  # the quota, or the rate limit per minute for ``rate:`` kinds
    need: int
    want: int


class LeaseGrant(msgspec.Struct, frozen=True):
    kind: str
    window: dt.date
    granted: int
    available: float  # what the row had left after this grant (a bucket: its tokens)


class GiveBack(msgspec.Struct, frozen=True):
    kind: str
    window: dt.date
    limit: int
    amount: int


def is_rate(kind: str) -> bool:
    return kind.startswith("rate:")


def rate_key(key_type: str) -> BudgetKey:
    return BudgetKey(f"rate:{key_type}", RATE_WINDOW)


def daily_key(what: str, today: dt.date) -> BudgetKey:
    return BudgetKey(f"daily:{what}", today)


def annual_key(channel: str, today: dt.date) -> BudgetKey:
    return BudgetKey(f"annual:{channel}", fiscal_year_start(today))


def current(key: BudgetKey, today: dt.date) -> bool:
    """Whether ``key``'s window is still today's (a past day's or year's block is dropped)."""
    if is_rate(key.kind):
        return True
    if key.kind.startswith("daily:"):
        return key.window == today
    return key.window == fiscal_year_start(today)


def bucket_shape(per_minute: int) -> tuple[float, float]:
    """(capacity, tokens per second) of a rate limit: ``engine.domain.limits.TokenBucket``."""
    return float(min(math.ceil(per_minute / 3) + 1, TOKEN_BUCKET_MAX)), per_minute / 60.0


def refilled(tokens: float, per_minute: int, elapsed: float) -> float:
    capacity, per_second = bucket_shape(per_minute)
    return min(capacity, tokens + max(0.0, elapsed) * per_second)


def grant(need: int, want: int, available: float, lessees: int) -> int:
    """Units to hand out of ``available`` (see the module rules); ``engine.store.budgets``
    computes the same in SQL, under the row's lock."""
    if available < need:
        return 0
    extra = max(0, want - need)
    share = max(0, math.floor((available - need) / (2 * max(1, lessees))))
    return min(math.floor(available), need + min(extra, share))


def retry_after(kind: str, limit: int, available: float, need: int) -> float:
    """Seconds to refuse ``kind`` from memory after the table could not grant ``need``."""
    if is_rate(kind) and limit > 0:
        _, per_second = bucket_shape(limit)
        return min(EXHAUSTED_RETRY_S, max(0.0, (need - available) / per_second))
    return EXHAUSTED_RETRY_S


class Demand:
    """A process's recent demand on one budget (units per second, decaying), and the block
    it should lease for it."""

    __slots__ = ("rate", "updated")

    def __init__(self, now: float) -> None:
        self.rate = 0.0
        self.updated = now

    def spent(self, units: int, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        # An exponential moving average: a steady r units/s converges to ``rate == r``.
        self.rate = self.rate * math.exp(-elapsed / _DEMAND_TAU_S) + units / _DEMAND_TAU_S
        self.updated = now

    def chunk(self) -> int:
        return max(MIN_CHUNK, min(MAX_CHUNK, math.ceil(self.rate * HORIZON_S)))


def low(held: int, chunk: int) -> bool:
    """The low-water mark: top up in the background once under half a block."""
    return held * 2 < chunk

"""Rate-limit and quota math. Pure: time is an argument, so tests need no clock.
The rules that use it (who is limited, which error) are in ``engine.domain.admission``.

The API rate limit is a token bucket per service and key type (GOV.UK's algorithm, at GC's
default of 1000/min): refill ``rate_limit / 60`` tokens per second, capacity
``min(ceil(rate_limit / 3) + 1, 1000)``. Provider send rates are ``engine.domain.pacing``'s.
"""

from __future__ import annotations

import datetime as dt
import math

TOKEN_BUCKET_MAX = 1000
TRIAL_DAILY_LIMIT = 50


class TokenBucket:
    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, per_minute: int, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(min(math.ceil(per_minute / 3) + 1, TOKEN_BUCKET_MAX))
        self.tokens = self.capacity
        self.updated = now

    @classmethod
    def full(cls, capacity: float, per_second: float, now: float) -> TokenBucket:
        """A full bucket of any size and refill rate (the admin guess throttle's)."""
        bucket = cls.__new__(cls)
        bucket.capacity, bucket.rate, bucket.tokens, bucket.updated = (
            float(capacity), per_second, float(capacity), now)  # fmt: skip
        return bucket

    def level(self, now: float) -> float:
        """Tokens available at ``now`` (refilled since the last take, up to capacity)."""
        return min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)

    def seconds_until_token(self, now: float) -> float:
        """0 if a token can be taken at ``now``; else the seconds until one can."""
        return max(0.0, (1.0 - self.level(now)) / self.rate)

    def take(self, now: float, n: float = 1.0) -> bool:
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.updated = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


def fiscal_year_start(today: dt.date) -> dt.date:
    """GC's annual limits reset on April 1."""
    year = today.year if today.month >= 4 else today.year - 1
    return dt.date(year, 4, 1)

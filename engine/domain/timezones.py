"""Time zones: a service's local day, and a client's local time read in it (issue 22).

Rules:
- A zone is an IANA name (``America/Toronto``, ``Australia/Sydney``, ``UTC``) known to
  ``zoneinfo`` (the system's tz database; ``tzdata`` where there is none). A service's zone
  is its own ``time_zone``, else the deployment's ``NOTIFY_DEFAULT_TIME_ZONE``, else UTC.
- Every stored and wire time stays UTC; a zone only decides two things: which *local
  date* "today" is (the daily limits' window: they reset at the service's local midnight,
  GC resets at UTC midnight; the fiscal year's April 1 likewise), and how a
  ``scheduled_for`` without an offset is read.
- A local day starts at its first instant (``day_start``): local midnight, or, in a zone
  whose clocks jump over midnight, the instant they land on.
- A naive local time read in a zone (``to_utc``): one that occurs twice (the clocks go
  back) is the first of the two (``fold=0``: the earlier instant, still on summer time);
  one that never occurs (the clocks go forward over it) is refused
  (``NonexistentLocalTime``): it names no instant, and guessing one would send an hour
  early or late without anyone having asked for it.
Pure: the current time is an argument.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

__all__ = [
    "NonexistentLocalTime",
    "day_start",
    "local_date",
    "to_utc",
    "zone",
    "zone_problem",
]


class NonexistentLocalTime(ValueError):
    """A wall-clock time the zone's clocks skip (a spring-forward gap)."""


@lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone named ``name``; raises ``ValueError`` for an unknown or malformed name."""
    if not name or name != name.strip():
        raise ValueError(f"not a time zone: {name!r}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"not a time zone: {name!r}") from None


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable zone, or None."""
    try:
        zone(name)
    except ValueError:
        return f"time_zone {name} is not an IANA time zone name (such as America/Toronto)"
    return None


def local_date(now: dt.datetime, name: str) -> dt.date:
    """The date it is in zone ``name`` at the aware instant ``now``."""
    return now.astimezone(zone(name)).date()


def day_start(day: dt.date, name: str) -> dt.datetime:
    """The first instant (aware, UTC) of ``day`` in zone ``name``."""
    # fold=0 in a gap uses the offset from before the jump, which lands exactly on the
    # first instant that exists that day.
    local = dt.datetime.combine(day, dt.time(), tzinfo=zone(name))
    return local.astimezone(dt.UTC)


def to_utc(naive: dt.datetime, name: str) -> dt.datetime:
    """A naive wall-clock time in zone ``name`` as an aware UTC instant (rules above)."""
    tz = zone(name)
    aware = naive.replace(tzinfo=tz, fold=0)
    instant = aware.astimezone(dt.UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != naive.replace(fold=0):
        raise NonexistentLocalTime(naive.isoformat(), name)  # the API words the refusal
    return instant

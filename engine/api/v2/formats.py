"""Wire formats shared by the v2 endpoints.

``scheduled_for`` (GC's rules, contract section 12): ISO 8601, not in the past, at most
``MAX_SCHEDULE_HOURS`` ahead. A value with an offset (or ``Z``) is that instant; a value
without one is a wall-clock time in the service's time zone (issue 22; GC reads it as UTC,
which is what a UTC service still does), read by ``engine.domain.timezones.to_utc``: a time
the clocks pass twice is the first of the two, a time they skip is refused. Stored and
shown (GET, callbacks) in UTC with ``Z``; the POST response echoes the string sent (GC).
"""

from __future__ import annotations

import datetime as dt

from engine.api.errors import ValidationError
from engine.domain.timezones import NonexistentLocalTime, to_utc

MAX_SCHEDULE_HOURS = 96


def parse_scheduled_for(value: str, now: dt.datetime, time_zone: str = "UTC") -> dt.datetime:
    """The instant ``value`` names (aware); a naive value is read in ``time_zone``."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            [
                "scheduled_for datetime format is invalid. It must be a valid ISO8601 date "
                "time format, https://en.wikipedia.org/wiki/ISO_8601"
            ]
        ) from None
    if parsed.tzinfo is None:
        try:
            parsed = to_utc(parsed, time_zone)
        except NonexistentLocalTime:
            raise ValidationError(
                [f"scheduled_for datetime does not exist in {time_zone}: the clocks skip it"]
            ) from None
    if parsed < now - dt.timedelta(minutes=1):
        raise ValidationError(["scheduled_for datetime cannot be in the past"])
    if parsed > now + dt.timedelta(hours=MAX_SCHEDULE_HOURS):
        raise ValidationError(
            [f"scheduled_for datetime can only be up to {MAX_SCHEDULE_HOURS} hours in the future"]
        )
    return parsed

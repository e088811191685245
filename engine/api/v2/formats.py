"""Wire formats shared by the v2 endpoints."""

from __future__ import annotations

import datetime as dt

from engine.api.errors import ValidationError

MAX_SCHEDULE_HOURS = 96


def parse_scheduled_for(value: str, now: dt.datetime) -> dt.datetime:
    """GC's rules: ISO 8601, not in the past, at most 96 hours ahead."""
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
        parsed = parsed.replace(tzinfo=dt.UTC)
    if parsed < now - dt.timedelta(minutes=1):
        raise ValidationError(["scheduled_for datetime cannot be in the past"])
    if parsed > now + dt.timedelta(hours=MAX_SCHEDULE_HOURS):
        raise ValidationError(
            [f"scheduled_for datetime can only be up to {MAX_SCHEDULE_HOURS} hours in the future"]
        )
    return parsed

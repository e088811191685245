"""Data retention: how long a service's notifications are kept, and from when they go.

Rules (GC Notify's and GOV.UK Notify's):
- Each service keeps each channel's notifications for ``days`` days: ``DEFAULT_DAYS``
  unless the service set its own, between ``MIN_DAYS`` and ``MAX_DAYS``.
- A notification created before midnight (UTC, until services have time zones) ``days``
  days ago is past retention: on day D with 7 days, everything created before D-7 00:00
  goes, so a notification is kept at least ``days`` full days.
Pure: today's date is an argument.
"""

from __future__ import annotations

import datetime as dt

DEFAULT_DAYS = 7
MIN_DAYS = 3
MAX_DAYS = 90
CHANNELS = ("email", "sms")


def check_days(days: int) -> str | None:
    """None if ``days`` is an allowed retention, else the reason (the 400's message)."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        return f"days_of_retention must be between {MIN_DAYS} and {MAX_DAYS}, not {days}"
    return None


def cutoff(today: dt.date, days: int) -> dt.datetime:
    """Notifications created before this instant are past a ``days`` retention on ``today``."""
    start = today - dt.timedelta(days=days)
    return dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)

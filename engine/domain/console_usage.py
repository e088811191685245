"""What a service's console dashboard shows, from the usage rows (issue 27).

The rows are ``engine.store.retention.Retention.usage``'s (the admin API's
``/usage`` query): per UTC day, channel and status, purged (``notification_stats``) and
kept (live rows) added, test keys left out. From them:
- per day of the last 7 and channel: sent (every status), delivered, failed
  (``statuses.FAILURE_STATUSES``); days with nothing sent are left out;
- today's and the fiscal year's (from April 1: annual limits reset then) totals per channel,
  next to the service's daily and annual limits.
"Today" is the service's local day, in its time zone, as for its daily limit (which resets
at its local midnight, ``engine.domain.timezones``): its counts are given (``today_used``,
from the live rows since the local midnight: the statistics table counts UTC days). The
7 days are UTC days (what the statistics keep), and the page says so. Pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from engine.domain import statuses as st
from engine.domain.limits import fiscal_year_start

CHANNELS = ("email", "sms")
_FAILED = frozenset(st.FAILURE_STATUSES)


class DayLine(msgspec.Struct, frozen=True):
    day: dt.date
    channel: str
    sent: int
    delivered: int
    failed: int


class LimitLine(msgspec.Struct, frozen=True):
    channel: str
    today: int
    daily_limit: int
    this_year: int
    annual_limit: int


def window(today: dt.date) -> tuple[dt.date, dt.date]:
    """The days the dashboard asks for: the fiscal year so far (7 days at least)."""
    return min(fiscal_year_start(today), today - dt.timedelta(days=6)), today


def days(rows: Iterable[Mapping[str, Any]], today: dt.date) -> list[DayLine]:
    """The last 7 days, newest first, one line per day and channel that sent anything."""
    first = today - dt.timedelta(days=6)
    totals: dict[tuple[dt.date, str], list[int]] = {}
    for r in rows:
        if r["day"] < first or r["day"] > today:
            continue
        line = totals.setdefault((r["day"], r["notification_type"]), [0, 0, 0])
        count = int(r["notifications"])
        line[0] += count
        if r["status"] == st.DELIVERED:
            line[1] += count
        elif r["status"] in _FAILED:
            line[2] += count
    return [
        DayLine(day, channel, *totals[(day, channel)])
        for day, channel in sorted(totals, key=lambda k: (-k[0].toordinal(), k[1]))
    ]


def limits(
    rows: Iterable[Mapping[str, Any]], today: dt.date, service: Any,
    today_used: Mapping[str, int],
) -> list[LimitLine]:  # fmt: skip
    """Today's (``today_used``: the local day's) and this fiscal year's notifications per
    channel against the limits (``today``: the local date)."""
    start = fiscal_year_start(today)
    used_today = {c: int(today_used.get(c, 0)) for c in CHANNELS}
    used_year = dict.fromkeys(CHANNELS, 0)
    for r in rows:
        channel = r["notification_type"]
        if channel not in used_year:
            continue
        if start <= r["day"] <= today:
            used_year[channel] += int(r["notifications"])
    return [
        LimitLine(c, used_today[c], int(service[f"{c}_daily_limit"]), used_year[c],
                  int(service[f"{c}_annual_limit"]))
        for c in CHANNELS
    ]  # fmt: skip

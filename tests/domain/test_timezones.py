"""Time zones (issue 22): a service's local day and a naive local time, on fixed times."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.domain import leases, timezones
from engine.domain.timezones import NonexistentLocalTime, day_start, local_date, to_utc

UTC = dt.UTC
TORONTO = "America/Toronto"


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "zone", "date"),
    [
        (at(2026, 1, 16, 4, 59, 59), TORONTO, dt.date(2026, 1, 15)),  # EST: UTC-5
        (at(2026, 1, 16, 5, 0, 0), TORONTO, dt.date(2026, 1, 16)),
        (at(2026, 7, 16, 3, 59, 59), TORONTO, dt.date(2026, 7, 15)),  # EDT: UTC-4
        (at(2026, 7, 16, 4, 0, 0), TORONTO, dt.date(2026, 7, 16)),
        (at(2026, 1, 15, 12, 59, 59), "Australia/Sydney", dt.date(2026, 1, 15)),  # AEDT +11
        (at(2026, 1, 15, 13, 0, 0), "Australia/Sydney", dt.date(2026, 1, 16)),
        (at(2026, 1, 15, 23, 59, 59), "UTC", dt.date(2026, 1, 15)),
    ],
)
def test_the_local_date_turns_at_local_midnight(now: dt.datetime, zone: str, date: dt.date) -> None:
    assert local_date(now, zone) == date


def test_the_daily_window_of_a_toronto_service_is_new_at_05_utc_in_winter() -> None:
    before = leases.daily_key("email", local_date(at(2026, 1, 16, 4, 59), TORONTO))
    after = leases.daily_key("email", local_date(at(2026, 1, 16, 5, 0), TORONTO))
    assert before.window == dt.date(2026, 1, 15)
    assert after.window == dt.date(2026, 1, 16)
    assert not leases.current(before, after.window)  # the block of day D is dropped
    # The same instants for a UTC service are one day (GC's reset).
    assert local_date(at(2026, 1, 16, 4, 59), "UTC") == local_date(at(2026, 1, 16, 5), "UTC")


@pytest.mark.parametrize(
    ("day", "zone", "start"),
    [
        (dt.date(2026, 1, 15), TORONTO, at(2026, 1, 15, 5)),
        (dt.date(2026, 7, 15), TORONTO, at(2026, 7, 15, 4)),
        (dt.date(2026, 3, 8), TORONTO, at(2026, 3, 8, 5)),  # the day the clocks go forward
        (dt.date(2026, 3, 9), TORONTO, at(2026, 3, 9, 4)),
        (dt.date(2026, 4, 1), "Australia/Sydney", at(2026, 3, 31, 13)),  # a fiscal year
        (dt.date(2026, 1, 15), "UTC", at(2026, 1, 15)),
        # Chile's clocks jump from 00:00 to 01:00: the day starts at 01:00 local (04:00 UTC).
        (dt.date(2026, 9, 6), "America/Santiago", at(2026, 9, 6, 4)),
    ],
)
def test_a_day_starts_at_its_first_local_instant(
    day: dt.date, zone: str, start: dt.datetime
) -> None:
    assert day_start(day, zone) == start
    assert local_date(start, zone) == day
    assert local_date(start - dt.timedelta(microseconds=1), zone) == day - dt.timedelta(days=1)


def test_a_naive_time_is_read_in_the_zone() -> None:
    assert to_utc(dt.datetime(2026, 1, 15, 9, 30), TORONTO) == at(2026, 1, 15, 14, 30)
    assert to_utc(dt.datetime(2026, 7, 15, 9, 30), TORONTO) == at(2026, 7, 15, 13, 30)
    assert to_utc(dt.datetime(2026, 1, 15, 9, 30), "UTC") == at(2026, 1, 15, 9, 30)


def test_a_time_the_clocks_pass_twice_is_the_first_of_the_two() -> None:
    # 2026-11-01 in Toronto: 01:00-01:59 happens in EDT (UTC-4), then again in EST (UTC-5).
    assert to_utc(dt.datetime(2026, 11, 1, 1, 30), TORONTO) == at(2026, 11, 1, 5, 30)
    assert to_utc(dt.datetime(2026, 11, 1, 1, 30, fold=1), TORONTO) == at(2026, 11, 1, 5, 30)
    assert to_utc(dt.datetime(2026, 11, 1, 2, 0), TORONTO) == at(2026, 11, 1, 7, 0)


@pytest.mark.parametrize(
    ("naive", "zone"),
    [
        (dt.datetime(2026, 3, 8, 2, 0), TORONTO),  # 02:00 -> 03:00: 02:00-02:59 never shows
        (dt.datetime(2026, 3, 8, 2, 59, 59), TORONTO),
        (dt.datetime(2026, 10, 4, 2, 30), "Australia/Sydney"),
    ],
)
def test_a_time_the_clocks_skip_is_refused(naive: dt.datetime, zone: str) -> None:
    with pytest.raises(NonexistentLocalTime):
        to_utc(naive, zone)
    # Either side of the gap exists; two wall-clock hours apart there is one real hour.
    hour = dt.timedelta(hours=1)
    assert to_utc(naive + hour, zone) - to_utc(naive - hour, zone) == hour


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "america/toronto ", "../etc/passwd",
                                  "/usr/share/zoneinfo/UTC", "x" * 300])  # fmt: skip
def test_zone_names_are_checked(name: str) -> None:
    assert timezones.zone_problem(name) is not None
    with pytest.raises(ValueError, match="not a time zone"):
        timezones.zone(name)


def test_known_zones_pass() -> None:
    for name in ("UTC", TORONTO, "America/Vancouver", "Australia/Sydney", "Europe/London"):
        assert timezones.zone_problem(name) is None

"""Notify's wire timestamp, as the v2 responses and the callbacks send it."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as hs

from engine.domain.timestamps import format_ts


def test_timestamps_are_utc_with_z_whatever_the_input_zone() -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    local = dt.datetime(2026, 5, 14, 7, 15, 30, 0, tzinfo=eastern)
    assert format_ts(local) == "2026-05-14T12:15:30.000000Z"
    assert format_ts(local.replace(microsecond=7)) == "2026-05-14T12:15:30.000007Z"
    assert format_ts(None) is None


def test_a_naive_datetime_is_taken_as_utc() -> None:
    assert format_ts(dt.datetime(2026, 1, 2, 3, 4, 5, 60)) == "2026-01-02T03:04:05.000060Z"


@given(
    hs.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1)),
    hs.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_matches_notifys_strftime_format(value: dt.datetime, offset_minutes: int) -> None:
    aware = value.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset_minutes)))
    expected = aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert format_ts(aware) == expected


@given(hs.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1)))
def test_a_utc_value_as_the_store_returns_it(value: dt.datetime) -> None:
    aware = value.replace(tzinfo=dt.UTC)
    assert format_ts(aware) == aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert format_ts(aware.replace(microsecond=0)) == aware.strftime("%Y-%m-%dT%H:%M:%S.000000Z")

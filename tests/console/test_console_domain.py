"""The console's pure parts: the dashboard's sums, roles, passwords, redirects, words."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.console.i18n import TEXT, Words
from engine.domain import console, console_usage

TODAY = dt.date(2026, 4, 2)  # the fiscal year began yesterday


def _row(day: dt.date, channel: str, status: str, n: int) -> dict[str, object]:
    return {"day": day, "notification_type": channel, "status": status, "notifications": n}


ROWS = [
    _row(dt.date(2026, 3, 31), "email", "delivered", 100),  # last fiscal year
    _row(dt.date(2026, 4, 1), "email", "delivered", 7),
    _row(dt.date(2026, 4, 1), "email", "permanent-failure", 2),
    _row(TODAY, "email", "delivered", 3),
    _row(TODAY, "email", "sending", 1),
    _row(TODAY, "sms", "technical-failure", 4),
    _row(dt.date(2026, 3, 26), "sms", "delivered", 50),  # 7 days ago: outside the week
]


def test_the_week_per_day_and_channel_newest_first() -> None:
    lines = console_usage.days(ROWS, TODAY)
    assert [(d.day, d.channel, d.sent, d.delivered, d.failed) for d in lines] == [
        (TODAY, "email", 4, 3, 0),
        (TODAY, "sms", 4, 0, 4),
        (dt.date(2026, 4, 1), "email", 9, 7, 2),
        (dt.date(2026, 3, 31), "email", 100, 100, 0),
    ]


def test_usage_against_daily_and_annual_limits() -> None:
    service = {"email_daily_limit": 10, "sms_daily_limit": 5, "email_annual_limit": 1000,
               "sms_annual_limit": 500}  # fmt: skip
    # Today's counts are the local day's (given): 6 emails, although the UTC day has 4.
    email, sms = console_usage.limits(ROWS, TODAY, service, {"email": 6, "sms": 4})
    assert (email.today, email.daily_limit, email.this_year, email.annual_limit) == (
        6, 10, 13, 1000)  # fmt: skip
    assert (sms.today, sms.this_year) == (4, 4)
    start, end = console_usage.window(TODAY)
    assert (start, end) == (dt.date(2026, 3, 27), TODAY)  # 7 days at least


def test_roles() -> None:
    assert console.has_role(frozenset({"send"}), False, "view")  # any role may look
    assert not console.has_role(frozenset({"view"}), False, "manage_api_keys")
    assert not console.has_role(frozenset(), False, "view")
    assert console.has_role(frozenset(), True, "manage_settings")


def test_passwords_are_argon2() -> None:
    hashed = console.hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert console.verify_password(hashed, "a long enough password")
    assert not console.verify_password(hashed, "a long enough passwore")
    assert not console.verify_password("not a hash", "x")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/services", "/console/services"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/console", "/console/"),
        ("/console//evil.example", "/console/"),
        ("/admin/services", "/console/"),
        (None, "/console/"),
    ],
)
def test_redirects_stay_in_the_console(target: str | None, expected: str) -> None:
    assert console.safe_next(target) == expected


def test_codes_have_six_digits() -> None:
    codes = {console.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150


def test_every_word_in_both_languages() -> None:
    same_in_both = {"code", "type", "version", "actions", "main_nav", "active"}
    for key, (en, fr) in TEXT.items():
        assert en.strip(), key
        assert fr.strip(), key
        assert en != fr or key in same_in_both, key
    assert Words("fr").n(12345) == "12\u00a0345"
    assert Words("en")("locked", minutes=15) == "Too many attempts. Try again in 15 minutes."

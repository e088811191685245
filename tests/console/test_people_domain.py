"""The console's people rules, pure (``engine.domain.console_people``): roles given, the
team's last manager, TOTP steps and their replay, the session-bound CSRF token."""

from __future__ import annotations

import datetime as dt
import uuid

import pyotp

from engine.domain import console_people as cp

A, B = uuid.uuid4(), uuid.uuid4()
MANAGER = frozenset({"view", "manage_settings"})
SENDER = frozenset({"view", "send"})
NOW = dt.datetime(2026, 12, 6, 12, 0, 10, tzinfo=dt.UTC)


def test_roles_are_known_ordered_and_include_view() -> None:
    assert cp.clean_roles(["manage_settings", "send"]) == ["view", "send", "manage_settings"]
    assert cp.clean_roles([]) == ["view"]
    assert cp.clean_roles(["send", "root"]) is None


def test_the_team_keeps_a_manager() -> None:
    team = {A: MANAGER, B: SENDER}
    assert not cp.keeps_a_manager(team, A, None)
    assert not cp.keeps_a_manager(team, A, SENDER)
    assert cp.keeps_a_manager(team, B, None)
    assert cp.keeps_a_manager({A: MANAGER, B: MANAGER}, A, None)
    assert cp.keeps_a_manager({A: SENDER, B: SENDER}, A, None)  # had none: not made worse


def test_a_totp_code_is_accepted_once_per_step_with_one_step_of_drift() -> None:
    secret = cp.new_totp_secret()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(NOW)
    assert cp.totp_step(secret, totp.at(NOW), NOW, None) == step
    assert cp.totp_step(secret, totp.at(NOW - dt.timedelta(seconds=30)), NOW, None) == step - 1
    assert cp.totp_step(secret, totp.at(NOW + dt.timedelta(seconds=30)), NOW, None) == step + 1
    assert cp.totp_step(secret, totp.at(NOW - dt.timedelta(seconds=60)), NOW, None) is None
    assert cp.totp_step(secret, totp.at(NOW), NOW, step) is None  # replayed
    assert cp.totp_step(secret, totp.at(NOW + dt.timedelta(seconds=30)), NOW, step) == step + 1
    assert cp.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"


def test_the_csrf_token_is_the_sessions_own() -> None:
    one, other = cp.session_csrf("session-one"), cp.session_csrf("session-two")
    assert one != other
    assert one == cp.session_csrf("session-one")
    assert "session-one" not in one


def test_the_client_address_behind_an_ingress() -> None:
    assert cp.client_address("8.8.4.4", None) == "8.8.4.4"
    assert cp.client_address("8.8.4.4", "198.51.100.1") == "8.8.4.4"  # not a proxy
    assert cp.client_address("10.0.0.5", "6.6.6.6, 198.51.100.1") == "198.51.100.1"
    assert cp.client_address("127.0.0.1", "not an address") == "127.0.0.1"
    assert cp.client_address(None, None) == "unknown"

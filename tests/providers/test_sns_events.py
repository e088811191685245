"""SNS SMS delivery status records map to receipts (contract §3.3, GC SMS)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from engine.providers.ses_events import EventError
from engine.providers.sns_events import parse_sms_message, parse_sms_record


def record(
    status: str, response: str = "Message has been accepted by phone carrier"
) -> dict[str, Any]:
    return {
        "notification": {"messageId": "sns-msg-1", "timestamp": "2026-11-23 09:00:34.558"},
        "delivery": {"destination": "+16135550100", "priceInUSD": 0.00645,
                     "providerResponse": response, "dwellTimeMs": 599},
        "status": status,
    }  # fmt: skip


def test_success_is_delivered() -> None:
    [receipt] = parse_sms_record(record("SUCCESS"))
    assert receipt.reference == "sns-msg-1"
    assert receipt.status == "delivered"
    assert receipt.provider == "sns"
    assert receipt.provider_response == "Message has been accepted by phone carrier"
    assert receipt.at == dt.datetime(2026, 11, 23, 9, 0, 34, 558000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("response", "status"),
    [
        ("Phone carrier is currently unreachable/unavailable", "temporary-failure"),
        ("Phone is currently unreachable/unavailable", "permanent-failure"),
        ("Phone number is opted out", "technical-failure"),
        ("This phone is opted out", "technical-failure"),
        ("Blocked as spam by phone carrier", "technical-failure"),
        ("Invalid phone number", "technical-failure"),
        ("Something new from AWS", "technical-failure"),
    ],
)
def test_failures_are_mapped_by_provider_response(response: str, status: str) -> None:
    [receipt] = parse_sms_record(record("FAILURE", response))
    assert receipt.status == status
    assert receipt.provider_response == response


def test_parse_message_decodes_the_json_text() -> None:
    [receipt] = parse_sms_message(json.dumps(record("SUCCESS")))
    assert receipt.status == "delivered"


@pytest.mark.parametrize(
    "payload",
    [
        "nope",
        "[]",
        json.dumps({"status": "SUCCESS"}),
        json.dumps({**record("SUCCESS"), "status": "MAYBE"}),
        json.dumps({**record("SUCCESS"), "notification": {"timestamp": "2026-11-23 09:00:00"}}),
        json.dumps({**record("SUCCESS"), "notification": {"messageId": "m"}}),
    ],
)
def test_malformed_records_raise(payload: str) -> None:
    with pytest.raises(EventError):
        parse_sms_message(payload)

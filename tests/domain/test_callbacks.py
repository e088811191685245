"""Callback payloads, signatures and retry verdicts (pure). The suspension breaker's tests are
in tests/domain/test_breaker.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid

import pytest

from engine.domain import callbacks as cb
from engine.domain import statuses as st

CREATED = dt.datetime(2026, 5, 14, 12, 15, 30, 123456, tzinfo=dt.UTC)


def owed(**overrides: object) -> cb.Owed:
    values: dict[str, object] = {
        "seq": 1,
        "service_id": uuid.uuid4(),
        "callback_type": "delivery_status",
        "notification_id": uuid.UUID("6f1c9d4e-1111-4c1e-9c33-7a8f9e0d1234"),
        "status": st.DELIVERED,
        "notification_type": "email",
        "recipient": "hello@canada.ca",
        "client_reference": "12345678",
        "template_id": uuid.UUID("0b0c7a1e-2222-4d2e-8d44-5b6c7d8e9f00"),
        "template_version": 3,
        "provider_response": None,
        "created_at": CREATED,
        "sent_at": CREATED + dt.timedelta(seconds=1),
        "completed_at": CREATED + dt.timedelta(seconds=2),
        "complaint_id": None,
    }
    values.update(overrides)
    return cb.Owed(**values)  # type: ignore[arg-type]


def test_delivery_payload_has_exactly_gc_fields_plus_template() -> None:
    body = json.loads(cb.encode_body(owed()))
    assert body == {
        "id": "6f1c9d4e-1111-4c1e-9c33-7a8f9e0d1234",
        "reference": "12345678",
        "to": "hello@canada.ca",
        "status": "delivered",
        "status_description": "Delivered",
        "provider_response": None,
        "created_at": "2026-05-14T12:15:30.123456Z",
        "completed_at": "2026-05-14T12:15:32.123456Z",
        "sent_at": "2026-05-14T12:15:31.123456Z",
        "notification_type": "email",
        "template_id": "0b0c7a1e-2222-4d2e-8d44-5b6c7d8e9f00",
        "template_version": 3,
    }


@pytest.mark.parametrize(
    ("status", "kind", "description", "completed"),
    [
        (st.PENDING, "sms", "In transit", False),
        (st.PERMANENT_FAILURE, "email", "No such address", True),
        (st.PERMANENT_FAILURE, "sms", "No such number", True),
        (st.TEMPORARY_FAILURE, "sms", "Carrier issue", True),
        (st.TECHNICAL_FAILURE, "email", "Tech issue", True),
    ],
)
def test_status_description_and_completed_at(
    status: str, kind: str, description: str, completed: bool
) -> None:
    body = cb.delivery_payload(owed(status=status, notification_type=kind))
    assert body["status_description"] == description
    assert (body["completed_at"] is not None) is completed


def test_an_email_refused_by_a_suppression_list_reads_blocked() -> None:
    # GC's formatted_status: the bounce subtype decides (cds-snc/notification-api models.py).
    for subtype in ("suppressed", "on-account-suppression-list"):
        body = cb.delivery_payload(
            owed(status=st.PERMANENT_FAILURE, notification_type="email", feedback_subtype=subtype)
        )
        assert body["status_description"] == "Blocked"
    body = cb.delivery_payload(
        owed(status=st.PERMANENT_FAILURE, notification_type="email", feedback_subtype="general")
    )
    assert body["status_description"] == "No such address"


def test_provider_response_and_missing_reference_are_null_or_string() -> None:
    body = cb.delivery_payload(
        owed(status=st.PERMANENT_FAILURE, client_reference=None, provider_response="Blocked")
    )
    assert body["reference"] is None
    assert body["provider_response"] == "Blocked"


def test_complaint_payload() -> None:
    complaint_id = uuid.uuid4()
    o = owed(callback_type="complaint", complaint_id=complaint_id, status=None)
    assert json.loads(cb.encode_body(o)) == {
        "notification_id": "6f1c9d4e-1111-4c1e-9c33-7a8f9e0d1234",
        "complaint_id": str(complaint_id),
        "reference": "12345678",
        "to": "hello@canada.ca",
        "complaint_date": "2026-05-14T12:15:32.123456Z",
    }


def test_headers_carry_bearer_and_optional_signature() -> None:
    body = b'{"id":"x"}'
    plain = cb.request_headers("token-0123456789", None, body, 1_700_000_000.7)
    assert plain == {
        "Content-Type": "application/json",
        "Authorization": "Bearer token-0123456789",
    }
    signed = cb.request_headers("token-0123456789", "s3cret", body, 1_700_000_000.7)
    assert signed[cb.TIMESTAMP_HEADER] == "1700000000"
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signed[cb.SIGNATURE_HEADER] == f"sha256={expected}"
    # A different body or timestamp gives a different signature.
    assert cb.signature("s3cret", 1_700_000_001, body) != signed[cb.SIGNATURE_HEADER]
    assert cb.signature("s3cret", 1_700_000_000, b"{}") != signed[cb.SIGNATURE_HEADER]


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "ok"),
        (204, "ok"),
        (None, "retry"),
        (500, "retry"),
        (503, "retry"),
        (429, "retry"),
        (400, "reject"),
        (401, "reject"),
        (404, "reject"),
        (302, "reject"),
    ],
)
def test_classify(status: int | None, verdict: str) -> None:
    assert cb.classify(status) == verdict


def test_retry_schedule_is_the_contracts_five_times_300_seconds() -> None:
    delays = [cb.retry_delay(n, max_retries=5, delay=300.0) for n in range(1, 8)]
    assert delays == [300.0, 300.0, 300.0, 300.0, 300.0, None, None]
    assert cb.retry_delay(1, max_retries=0, delay=300.0) is None


def test_callback_statuses_exclude_hand_off_statuses() -> None:
    assert st.DELIVERED in cb.CALLBACK_STATUSES
    assert not {st.CREATED, st.SENDING, st.SENT} & cb.CALLBACK_STATUSES

"""SES event notifications map to receipts exactly as GC Notify maps them (contract §3.3)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from engine.providers.ses_events import (
    ACCOUNT_SUPPRESSED_RESPONSE,
    ATTACHMENT_REJECTED_RESPONSE,
    SUPPRESSED_RESPONSE,
    EventError,
    parse_ses_event,
    parse_ses_message,
)

REFERENCE = "0100019a-1111-2222-3333-444455556666-000000"
MAIL = {
    "timestamp": "2026-11-23T09:00:00.000Z",
    "messageId": REFERENCE,
    "source": "service@notification.canada.ca",
    "destination": ["someone@example.com"],
}


def event(kind: str, key: str = "eventType", **body: Any) -> dict[str, Any]:
    return {key: kind, "mail": MAIL, **body}


def bounce(bounce_type: str, subtype: str) -> dict[str, Any]:
    return event(
        "Bounce",
        bounce={
            "bounceType": bounce_type,
            "bounceSubType": subtype,
            "bouncedRecipients": [{"emailAddress": "someone@example.com",
                                   "diagnosticCode": "smtp; 550 someone@example.com unknown"}],
            "timestamp": "2026-11-23T09:00:02.500Z",
            "feedbackId": "feedback-1",
        },
    )  # fmt: skip


@pytest.mark.parametrize("key", ["eventType", "notificationType"])
def test_delivery_is_delivered_at_the_delivery_time(key: str) -> None:
    [receipt] = parse_ses_event(
        event("Delivery", key, delivery={"timestamp": "2026-11-23T09:00:01.250Z"})
    )
    assert receipt.reference == REFERENCE
    assert receipt.status == "delivered"
    assert receipt.at == dt.datetime(2026, 11, 23, 9, 0, 1, 250000, tzinfo=dt.UTC)
    assert receipt.provider == "ses"
    assert not receipt.complaint


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "status", "feedback_type", "feedback_subtype", "response"),
    [
        ("Permanent", "General", "permanent-failure", "hard-bounce", "general", None),
        ("Permanent", "NoEmail", "permanent-failure", "hard-bounce", "no-email", None),
        ("Permanent", "Suppressed", "permanent-failure", "hard-bounce", "suppressed",
         SUPPRESSED_RESPONSE),
        ("Permanent", "OnAccountSuppressionList", "permanent-failure", "hard-bounce",
         "on-account-suppression-list", ACCOUNT_SUPPRESSED_RESPONSE),
        ("Transient", "General", "temporary-failure", "soft-bounce", "general", None),
        ("Transient", "MailboxFull", "temporary-failure", "soft-bounce", "mailbox-full", None),
        ("Transient", "MessageTooLarge", "temporary-failure", "soft-bounce",
         "message-too-large", None),
        ("Transient", "ContentRejected", "temporary-failure", "soft-bounce",
         "content-rejected", None),
        ("Transient", "AttachmentRejected", "temporary-failure", "soft-bounce",
         "attachment-rejected", ATTACHMENT_REJECTED_RESPONSE),
        ("Undetermined", "Undetermined", "temporary-failure", "soft-bounce", "general", None),
        ("Permanent", "Brand-new", "permanent-failure", "hard-bounce",
         "unknown-bounce-subtype", None),
    ],
)  # fmt: skip
def test_bounces(
    bounce_type: str,
    subtype: str,
    status: str,
    feedback_type: str,
    feedback_subtype: str,
    response: str | None,
) -> None:
    [receipt] = parse_ses_event(bounce(bounce_type, subtype))
    assert receipt.status == status
    assert receipt.feedback_type == feedback_type
    assert receipt.feedback_subtype == feedback_subtype
    assert receipt.provider_response == response
    assert receipt.at == dt.datetime(2026, 11, 23, 9, 0, 2, 500000, tzinfo=dt.UTC)


def test_bounce_never_copies_the_diagnostic_text() -> None:
    [receipt] = parse_ses_event(bounce("Permanent", "General"))
    assert "example.com" not in repr(receipt)


def test_complaint_is_a_complaint_receipt_without_a_status_change() -> None:
    [receipt] = parse_ses_event(
        event(
            "Complaint",
            "notificationType",
            complaint={
                "complainedRecipients": [{"emailAddress": "someone@example.com"}],
                "timestamp": "2026-11-23T10:00:00.000Z",
                "feedbackId": "feedback-2",
                "complaintSubType": None,
                "complaintFeedbackType": "abuse",
            },
        )
    )
    assert receipt.complaint
    assert receipt.reference == REFERENCE
    assert receipt.feedback_type == "abuse"
    assert receipt.at == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)


def test_complaint_without_details_uses_the_send_time() -> None:
    [receipt] = parse_ses_event(event("Complaint"))
    assert receipt.complaint
    assert receipt.feedback_type is None
    assert receipt.at == dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)


def test_account_suppression_complaint_is_a_permanent_failure() -> None:
    [receipt] = parse_ses_event(
        event(
            "Complaint",
            complaint={"complaintSubType": "OnAccountSuppressionList",
                       "timestamp": "2026-11-23T09:00:03.000Z"},
        )
    )  # fmt: skip
    assert not receipt.complaint
    assert receipt.status == "permanent-failure"
    assert receipt.feedback_subtype == "on-account-suppression-list"
    assert receipt.provider_response == ACCOUNT_SUPPRESSED_RESPONSE


def test_reject_and_rendering_failure_are_technical_failures() -> None:
    [rejected] = parse_ses_event(event("Reject", reject={"reason": "Bad content"}))
    [unrendered] = parse_ses_event(
        event("RenderingFailure", failure={"errorMessage": "x", "templateName": "t"})
    )
    assert rejected.status == unrendered.status == "technical-failure"
    assert rejected.provider_response is not None
    assert "Bad content" in rejected.provider_response
    assert unrendered.provider_response


@pytest.mark.parametrize("kind", ["Send", "DeliveryDelay", "Open", "Click", "Subscription"])
def test_informational_events_carry_no_receipt(kind: str) -> None:
    assert parse_ses_event(event(kind)) == []


def test_parse_message_decodes_the_json_text() -> None:
    text = json.dumps(event("Delivery", delivery={"timestamp": "2026-11-23T09:00:01Z"}))
    [receipt] = parse_ses_message(text)
    assert receipt.status == "delivered"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"mail": MAIL}).encode(),
        json.dumps({"eventType": "Delivery"}).encode(),
        json.dumps(
            {"eventType": "Delivery", "mail": {"timestamp": "2026-11-23T09:00:00Z"}}
        ).encode(),
        json.dumps({"eventType": "Bounce", "mail": MAIL}).encode(),
        json.dumps({"eventType": "Mystery", "mail": MAIL}).encode(),
        json.dumps({"eventType": "Delivery", "mail": {**MAIL, "timestamp": "yesterday"}}).encode(),
    ],
)
def test_malformed_events_raise(payload: bytes) -> None:
    with pytest.raises(EventError):
        parse_ses_message(payload)

"""SNS SMS delivery status logs -> Receipts (contract §3.3, GC SMS). Pure.

SNS writes one JSON record per SMS to CloudWatch Logs; a subscription filter (or GC's
Lambda) forwards it through SNS/SQS to us:

    {"notification": {"messageId": "...", "timestamp": "2026-06-28 00:40:34.558"},
     "delivery": {"destination": "+1...", "providerResponse": "...", ...},
     "status": "SUCCESS" | "FAILURE"}

``messageId`` is the reference SNS ``Publish`` returned. ``SUCCESS`` -> delivered. A
``FAILURE`` is classified by its ``providerResponse`` text (GC
``process_sns_receipts_tasks.determine_status``): an unreachable carrier is temporary, an
unreachable phone is permanent, an opted-out number and every blocked, invalid or unknown
case is a technical failure (the contract's reading for opted-out numbers). The text is
kept as ``provider_response``; SNS texts name no recipient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.domain import statuses as st
from engine.providers.base import Receipt
from engine.providers.ses_events import EventError

PROVIDER = "sns"

# https://docs.aws.amazon.com/sns/latest/dg/sms_stats_cloudwatch.html (failure reasons)
FAILURE_STATUSES = {
    "Phone carrier is currently unreachable/unavailable": st.TEMPORARY_FAILURE,
    "Phone is currently unreachable/unavailable": st.PERMANENT_FAILURE,
    "Phone number is opted out": st.TECHNICAL_FAILURE,
    "Blocked as spam by phone carrier": st.TECHNICAL_FAILURE,
    "Destination is on a blocked list": st.TECHNICAL_FAILURE,
    "Invalid phone number": st.TECHNICAL_FAILURE,
    "Message body is invalid": st.TECHNICAL_FAILURE,
    "Phone carrier has blocked this message": st.TECHNICAL_FAILURE,
    "Phone has blocked SMS": st.TECHNICAL_FAILURE,
    "Phone is on a blocked list": st.TECHNICAL_FAILURE,
    "This delivery would exceed max price": st.TECHNICAL_FAILURE,
    "Unknown error attempting to reach phone": st.TECHNICAL_FAILURE,
}


def failure_status(provider_response: str) -> str:
    """The status a FAILURE record maps to. Unknown texts are technical failures (GC)."""
    status = FAILURE_STATUSES.get(provider_response.strip())
    if status is not None:
        return status
    if "is opted out" in provider_response:
        return FAILURE_STATUSES["Phone number is opted out"]
    return st.TECHNICAL_FAILURE


def parse_sms_message(text: str | bytes) -> list[Receipt]:
    """Decode one delivery status record (an SNS notification's ``Message``)."""
    try:
        record = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise EventError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise EventError("an SMS delivery status record is a JSON object")
    return parse_sms_record(record)


def parse_sms_record(record: Mapping[str, Any]) -> list[Receipt]:
    notification = record.get("notification")
    delivery = record.get("delivery") or {}
    if not isinstance(notification, dict) or not isinstance(delivery, dict):
        raise EventError("missing notification / delivery objects")
    reference = notification.get("messageId")
    if not isinstance(reference, str) or not reference:
        raise EventError("missing notification.messageId")
    at = _timestamp(notification.get("timestamp"))
    response = delivery.get("providerResponse")
    provider_response = response if isinstance(response, str) else None
    status = record.get("status")
    if status == "SUCCESS":
        new_status = st.DELIVERED
    elif status == "FAILURE":
        new_status = failure_status(provider_response or "")
    else:
        raise EventError(f"unknown SMS delivery status {status!r}")
    return [
        Receipt(
            reference=reference,
            status=new_status,
            at=at,
            provider=PROVIDER,
            provider_response=provider_response,
        )
    ]


def _timestamp(value: object) -> dt.datetime:
    # SNS writes "2026-06-28 00:40:34.558" in UTC without an offset.
    if not isinstance(value, str) or not value:
        raise EventError("missing notification.timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"bad timestamp {value!r}") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed

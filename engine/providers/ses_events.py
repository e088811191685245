"""SES event notifications -> Receipts (contract §3.3). Pure: no I/O, no clock.

SES reports outcomes in two shapes that differ only in the name of the type key: identity
notifications (``notificationType``) and configuration-set event publishing
(``eventType``). Both carry ``mail.messageId``, the reference SES returned at send time.

Mapping (GC Notify ``notifications_ses_callback.py``):
- ``Delivery`` -> delivered.
- ``Bounce`` ``Permanent`` -> permanent-failure (feedback ``hard-bounce``); ``Transient`` and
  ``Undetermined`` -> temporary-failure (``soft-bounce``); anything else keeps the bounce's
  temporary-failure with ``unknown-bounce``. The subtype names GC stores are kept, and GC's
  three ``provider_response`` texts (suppression lists, rejected attachments).
- ``Complaint`` -> a Receipt with ``complaint=True``: a ``complaints`` row and a complaint
  callback, no status change. Its ``status`` says delivered (a complaint means the mail
  arrived) but the ReceiptsActor never applies it.
  A complaint with ``complaintSubType: OnAccountSuppressionList`` is not a complaint by the
  recipient: SES refused to send because the address is on the account's suppression list
  after an earlier complaint. GC treats it as permanent-failure; so do we, as a plain status
  receipt (no complaint row, no complaint callback).
- ``Reject`` (SES found a virus, nothing was sent) and ``RenderingFailure`` (a template
  could not be rendered) -> technical-failure: the address is fine, the message is not.
- ``Send``, ``DeliveryDelay``, ``Open``, ``Click``, ``Subscription``: no receipt.

Bounce diagnostic texts are never copied into ``provider_response``: they often quote the
recipient's address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.domain import statuses as st
from engine.providers.base import Receipt

PROVIDER = "ses"

SUPPRESSED_RESPONSE = "The email address is on our email provider suppression list"
ACCOUNT_SUPPRESSED_RESPONSE = "The email address is on the GC Notify suppression list"
ATTACHMENT_REJECTED_RESPONSE = "The email was rejected because of its attachments"
REJECT_RESPONSE = "The email provider rejected the email"
RENDERING_FAILURE_RESPONSE = "The email provider could not render the email"

HARD_BOUNCE = "hard-bounce"
SOFT_BOUNCE = "soft-bounce"
UNKNOWN_BOUNCE = "unknown-bounce"
UNKNOWN_SUBTYPE = "unknown-bounce-subtype"

_HARD_SUBTYPES = {
    "General": "general",
    "NoEmail": "no-email",
    "Suppressed": "suppressed",
    "OnAccountSuppressionList": "on-account-suppression-list",
}
_SOFT_SUBTYPES = {
    "General": "general",
    "MailboxFull": "mailbox-full",
    "MessageTooLarge": "message-too-large",
    "ContentRejected": "content-rejected",
    "AttachmentRejected": "attachment-rejected",
}
_PROVIDER_RESPONSES = {
    ("Permanent", "Suppressed"): SUPPRESSED_RESPONSE,
    ("Permanent", "OnAccountSuppressionList"): ACCOUNT_SUPPRESSED_RESPONSE,
    ("Transient", "AttachmentRejected"): ATTACHMENT_REJECTED_RESPONSE,
}
IGNORED_EVENTS = frozenset({"Send", "DeliveryDelay", "Open", "Click", "Subscription"})


class EventError(ValueError):
    """The payload is not an SES (or SNS SMS) event we can read."""


def parse_ses_message(text: str | bytes) -> list[Receipt]:
    """Decode one SES event (the ``Message`` of an SNS notification, or a raw SQS body)."""
    try:
        event = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise EventError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise EventError("an SES event is a JSON object")
    return parse_ses_event(event)


def parse_ses_event(event: Mapping[str, Any]) -> list[Receipt]:
    """The receipts one SES event carries: zero or one."""
    kind = event.get("eventType") or event.get("notificationType")
    if not isinstance(kind, str):
        raise EventError("missing eventType / notificationType")
    if kind in IGNORED_EVENTS:
        return []
    mail = _object(event, "mail")
    reference = mail.get("messageId")
    if not isinstance(reference, str) or not reference:
        raise EventError("missing mail.messageId")
    sent_at = _timestamp(mail.get("timestamp"))
    if kind == "Delivery":
        delivery = _object(event, "delivery", required=False)
        at = _timestamp(delivery.get("timestamp"), sent_at)
        return [_receipt(reference, st.DELIVERED, at)]
    if kind == "Bounce":
        return [_bounce(reference, _object(event, "bounce"), sent_at)]
    if kind == "Complaint":
        return [_complaint(reference, _object(event, "complaint", required=False), sent_at)]
    if kind == "Reject":
        reason = _object(event, "reject", required=False).get("reason")
        response = f"{REJECT_RESPONSE}: {reason}" if isinstance(reason, str) else REJECT_RESPONSE
        return [_receipt(reference, st.TECHNICAL_FAILURE, sent_at, provider_response=response)]
    if kind == "RenderingFailure":
        return [
            _receipt(
                reference,
                st.TECHNICAL_FAILURE,
                sent_at,
                provider_response=RENDERING_FAILURE_RESPONSE,
            )
        ]
    raise EventError(f"unknown SES event type {kind!r}")


def _bounce(reference: str, bounce: Mapping[str, Any], sent_at: dt.datetime) -> Receipt:
    bounce_type = bounce.get("bounceType")
    subtype = bounce.get("bounceSubType")
    if bounce_type == "Permanent":
        status, feedback = st.PERMANENT_FAILURE, HARD_BOUNCE
        feedback_subtype = _HARD_SUBTYPES.get(str(subtype), UNKNOWN_SUBTYPE)
    elif bounce_type == "Transient":
        status, feedback = st.TEMPORARY_FAILURE, SOFT_BOUNCE
        feedback_subtype = _SOFT_SUBTYPES.get(str(subtype), UNKNOWN_SUBTYPE)
    elif bounce_type == "Undetermined":
        # GC: nobody knows what went wrong, so it is a soft bounce.
        status, feedback, feedback_subtype = st.TEMPORARY_FAILURE, SOFT_BOUNCE, "general"
    else:
        status, feedback, feedback_subtype = st.TEMPORARY_FAILURE, UNKNOWN_BOUNCE, UNKNOWN_SUBTYPE
    return _receipt(
        reference,
        status,
        _timestamp(bounce.get("timestamp"), sent_at),
        provider_response=_PROVIDER_RESPONSES.get((str(bounce_type), str(subtype))),
        feedback_type=feedback,
        feedback_subtype=feedback_subtype,
    )


def _complaint(reference: str, complaint: Mapping[str, Any], sent_at: dt.datetime) -> Receipt:
    at = _timestamp(complaint.get("timestamp"), sent_at)
    if complaint.get("complaintSubType") == "OnAccountSuppressionList":
        return _receipt(
            reference,
            st.PERMANENT_FAILURE,
            at,
            provider_response=ACCOUNT_SUPPRESSED_RESPONSE,
            feedback_type=HARD_BOUNCE,
            feedback_subtype="on-account-suppression-list",
        )
    feedback_type = complaint.get("complaintFeedbackType")
    return _receipt(
        reference,
        st.DELIVERED,
        at,
        feedback_type=feedback_type if isinstance(feedback_type, str) else None,
        complaint=True,
    )


def _receipt(reference: str, status: str, at: dt.datetime, **fields: Any) -> Receipt:
    return Receipt(reference=reference, status=status, at=at, provider=PROVIDER, **fields)


def _object(event: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    value = event.get(key)
    if isinstance(value, dict):
        return value
    if value is None and not required:
        return {}
    raise EventError(f"missing {key} object")


def _timestamp(value: object, default: dt.datetime | None = None) -> dt.datetime:
    """An AWS timestamp ("2026-01-27T14:59:38.237Z" or "2026-01-27 14:59:38.237") in UTC."""
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise EventError(f"bad timestamp {value!r}") from None
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
    if default is not None:
        return default
    raise EventError("missing timestamp")

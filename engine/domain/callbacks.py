"""Status and complaint callbacks: payloads, signatures, retry schedule, breaker. Pure.

Rules (contract 3.4, GC "Fonctions de rappel"):
- A delivery-status callback carries exactly GC's fields ``id, reference, to, status,
  status_description, provider_response, created_at, completed_at, sent_at,
  notification_type`` plus GOV.UK's ``template_id, template_version``. GC documents every
  value as a string (or null); ``template_version`` is GOV.UK's field and GOV.UK sends it
  as an integer, so it stays an integer. Timestamps are UTC ``%Y-%m-%dT%H:%M:%S.%fZ``.
  ``status_description`` is in the service's ``callback_language`` (en, the default, or
  fr: issue 22); every other value is data and stays as it is.
- A complaint callback carries ``notification_id, complaint_id, reference, to,
  complaint_date``.
- An inbound SMS callback (issue 24) carries GC's ``id, source_number,
  destination_number, message, date_received``.
- Callbacks are owed for the statuses a provider receipt or a failure produces
  (``CALLBACK_STATUSES``); the hand-off statuses ``sending`` / ``sent`` get none, as in
  both Notifys. The list is mirrored in migration 0002's trigger.
- Retry on connection errors, timeouts, any 5xx and 429; never on another 4xx. The
  contract's schedule is 5 retries 300 s apart, no exponential backoff (configurable).
- Breaker: 25 failed attempts within 300 s suspends the endpoint (GC-docs):
  ``suspension_breaker``, the shared ``engine.domain.breaker`` with a failure-count rule.
- Optional signature (beyond GC / GOV.UK): ``X-Notify-Signature: sha256=<hex>`` where
  hex = HMAC-SHA256(secret, f"{timestamp}.".encode() + body), timestamp in
  ``X-Notify-Timestamp`` (Unix seconds), so receivers can verify the sender and reject
  replays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import uuid
from typing import Any, Literal

import msgspec

from engine.domain import statuses as st
from engine.domain.breaker import CircuitBreaker, FailureCount
from engine.domain.timestamps import format_ts

HEALTH_CHECK_BODY = b'{"health_check":"true"}'
SIGNATURE_HEADER = "X-Notify-Signature"
TIMESTAMP_HEADER = "X-Notify-Timestamp"
BREAKER_FAILURES = 25
BREAKER_WINDOW = 300.0

CALLBACK_STATUSES = frozenset(
    {
        st.PENDING,
        st.DELIVERED,
        st.PERMANENT_FAILURE,
        st.TEMPORARY_FAILURE,
        st.TECHNICAL_FAILURE,
        st.PROVIDER_FAILURE,
        st.VIRUS_SCAN_FAILED,
        st.VALIDATION_FAILED,
        "pii-check-failed",
    }
)

Verdict = Literal["ok", "retry", "reject"]
INBOUND_SMS = "inbound_sms"  # issue 24: a text received on the service's number
_encode = msgspec.json.Encoder().encode


class Owed(msgspec.Struct, frozen=True, kw_only=True):
    """One owed callback: a row of ``callback_queue``."""

    seq: int
    service_id: uuid.UUID
    callback_type: str  # delivery_status | complaint | inbound_sms
    notification_id: uuid.UUID
    status: str | None
    notification_type: str | None
    recipient: str
    client_reference: str | None
    template_id: uuid.UUID | None
    template_version: int | None
    provider_response: str | None
    created_at: dt.datetime | None
    sent_at: dt.datetime | None
    completed_at: dt.datetime | None
    complaint_id: uuid.UUID | None
    feedback_subtype: str | None = None  # an email bounce's (its status_description)
    attempts: int = 0
    # The send's own URL and its origin (issue 23, migration 0012); None: the endpoint's.
    callback_url: str | None = None
    callback_origin: str | None = None
    # The registration that claimed the row (fencing, engine.domain.ownership); never sent.
    owner: uuid.UUID | None = None


def delivery_payload(o: Owed, language: str = "en") -> dict[str, Any]:
    status = o.status or ""
    completed = o.completed_at if status in st.COMPLETED else None
    return {
        "id": str(o.notification_id),
        "reference": o.client_reference,
        "to": o.recipient,
        "status": status,
        "status_description": st.status_description(
            status, o.notification_type or "", language, o.feedback_subtype
        ),
        "provider_response": o.provider_response,
        "created_at": format_ts(o.created_at),
        "completed_at": format_ts(completed),
        "sent_at": format_ts(o.sent_at),
        "notification_type": o.notification_type,
        "template_id": str(o.template_id) if o.template_id else None,
        "template_version": o.template_version,
    }


def complaint_payload(o: Owed) -> dict[str, Any]:
    return {
        "notification_id": str(o.notification_id),
        "complaint_id": str(o.complaint_id),
        "reference": o.client_reference,
        "to": o.recipient,
        "complaint_date": format_ts(o.completed_at),
    }


def inbound_payload(o: Owed) -> dict[str, Any]:
    """GC's inbound SMS callback (``send_inbound_sms_to_service``): the text's id, the
    sender, our number, the text and when it was received."""
    return {
        "id": str(o.notification_id),
        "source_number": o.recipient,
        "destination_number": o.client_reference,
        "message": o.provider_response,
        "date_received": format_ts(o.completed_at),
    }


def encode_body(o: Owed, language: str = "en") -> bytes:
    """``language``: the service's ``callback_language`` (``status_description`` only)."""
    if o.callback_type == "complaint":
        payload = complaint_payload(o)
    elif o.callback_type == INBOUND_SMS:
        payload = inbound_payload(o)
    else:
        payload = delivery_payload(o, language)
    return _encode(payload)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def request_headers(
    bearer_token: str, signing_secret: str | None, body: bytes, now: float
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer_token}"}
    if signing_secret:
        timestamp = int(now)
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(signing_secret, timestamp, body)
    return headers


def classify(status_code: int | None) -> Verdict:
    """None = no HTTP answer (connection error or timeout)."""
    if status_code is None or status_code >= 500 or status_code == 429:
        return "retry"
    if 200 <= status_code < 300:
        return "ok"
    return "reject"


def retry_delay(attempts_made: int, max_retries: int, delay: float) -> float | None:
    """Seconds until the next try after ``attempts_made`` failed tries; None = give up.

    The first try is not a retry: ``max_retries=5`` allows 6 tries in all."""
    if attempts_made > max_retries:
        return None
    return delay


def suspension_breaker() -> CircuitBreaker:
    """An endpoint's breaker: ``BREAKER_FAILURES`` failed attempts within
    ``BREAKER_WINDOW`` seconds open it, and it stays open (the endpoint is suspended) until
    the manager resets it on a resume or a config change."""
    return CircuitBreaker(FailureCount(BREAKER_FAILURES), window=BREAKER_WINDOW, cooldown=math.inf)

"""Notification statuses, their groups and descriptions (contract section 3).

Rules:
- The transitions the engine allows live once, next to the statement that enforces them
  (``engine.store.notifications.MAY_REPLACE``).
- ``completed_at`` is shown only for COMPLETED statuses.
- ``status_description`` is English (GC's wording, the contract) unless French is asked
  for: by the request (``Accept-Language``, ``engine.api.i18n``) or, in callbacks, by the
  service's ``callback_language``.
"""

from __future__ import annotations

CREATED = "created"
SENDING = "sending"
SENT = "sent"
PENDING = "pending"
DELIVERED = "delivered"
CANCELLED = "cancelled"
TECHNICAL_FAILURE = "technical-failure"
TEMPORARY_FAILURE = "temporary-failure"
PERMANENT_FAILURE = "permanent-failure"
PROVIDER_FAILURE = "provider-failure"
VIRUS_SCAN_FAILED = "virus-scan-failed"
PENDING_VIRUS_CHECK = "pending-virus-check"
VALIDATION_FAILED = "validation-failed"

FAILURE_STATUSES = (
    TECHNICAL_FAILURE,
    TEMPORARY_FAILURE,
    PERMANENT_FAILURE,
    PROVIDER_FAILURE,
    VIRUS_SCAN_FAILED,
    VALIDATION_FAILED,
)
ALL_STATUSES = (
    CANCELLED,
    CREATED,
    SENDING,
    SENT,
    DELIVERED,
    PENDING,
    "failed",
    TECHNICAL_FAILURE,
    TEMPORARY_FAILURE,
    PERMANENT_FAILURE,
    PENDING_VIRUS_CHECK,
    VALIDATION_FAILED,
    VIRUS_SCAN_FAILED,
    "returned-letter",
    PROVIDER_FAILURE,
    "pii-check-failed",
    "accepted",
    "received",
)
COMPLETED = frozenset({SENT, DELIVERED, "failed", CANCELLED, "returned-letter", *FAILURE_STATUSES})
FINAL = frozenset({DELIVERED, CANCELLED, *FAILURE_STATUSES})


def expand_filter(statuses: list[str]) -> list[str]:
    """Expand the list endpoint's aliases: failed, accepted, received."""
    out: list[str] = []
    for s in statuses:
        if s == "failed":
            out.extend(FAILURE_STATUSES)
        elif s == "accepted":
            out.extend((CREATED, SENDING))
        elif s == "received":
            out.append(DELIVERED)
        else:
            out.append(s)
    return list(dict.fromkeys(out))


_DESCRIPTIONS = {
    CREATED: "In transit",
    SENDING: "In transit",
    PENDING: "In transit",
    SENT: "Sent",
    DELIVERED: "Delivered",
    PERMANENT_FAILURE: "No such address",
    TEMPORARY_FAILURE: "Content or inbox issue",
    TECHNICAL_FAILURE: "Tech issue",
    PROVIDER_FAILURE: "Blocked",
    VIRUS_SCAN_FAILED: "Attachment has virus",
    PENDING_VIRUS_CHECK: "In transit",
    CANCELLED: "Cancelled",
}


# GC Notify's French for the same descriptions (its French interface's wording).
_FRENCH = {
    "In transit": "En transit",
    "Sent": "Envoyé",
    "Delivered": "Livré",
    "No such address": "Adresse inexistante",
    "Content or inbox issue": "Problème de contenu ou de boîte de réception",
    "Tech issue": "Problème technique",
    "Blocked": "Bloqué",
    "Attachment has virus": "La pièce jointe contient un virus",
    "Cancelled": "Annulé",
    "Not a valid phone number": "Numéro de téléphone non valide",
    "Carrier issue": "Problème du fournisseur de services",
}


def status_description(status: str, notification_type: str, language: str = "en") -> str:
    """The status as a person reads it; ``language`` "fr" for French (issue 22). A status
    without a description is shown as it is, in either language."""
    if status == PERMANENT_FAILURE and notification_type == "sms":
        english = "Not a valid phone number"
    elif status == TEMPORARY_FAILURE and notification_type == "sms":
        english = "Carrier issue"
    else:
        english = _DESCRIPTIONS.get(status, status)
    return _FRENCH.get(english, english) if language == "fr" else english

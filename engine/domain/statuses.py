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


# GC Notify's words for each status (cds-snc/notification-api models.py
# ``formatted_status``), per channel; a status it has no words for is shown as it is.
_IN_TRANSIT = "In transit"
_EMAIL = {
    CREATED: _IN_TRANSIT,
    SENDING: _IN_TRANSIT,
    PENDING: _IN_TRANSIT,
    PENDING_VIRUS_CHECK: _IN_TRANSIT,
    SENT: "Delivered",
    DELIVERED: "Delivered",
    "failed": "Failed",
    PERMANENT_FAILURE: "No such address",
    TEMPORARY_FAILURE: "Content or inbox issue",
    TECHNICAL_FAILURE: "Tech issue",
    VIRUS_SCAN_FAILED: "Attachment has virus",
    "pii-check-failed": "Exceeds Protected A",
    CANCELLED: "Cancelled",  # ours: GC deletes a cancelled notification
}
_SMS = {
    CREATED: _IN_TRANSIT,
    SENDING: _IN_TRANSIT,
    PENDING: _IN_TRANSIT,
    SENT: "Sent",
    DELIVERED: "Delivered",
    "failed": "Failed",
    PERMANENT_FAILURE: "No such number",
    PROVIDER_FAILURE: "No such number",
    TEMPORARY_FAILURE: "Carrier issue",
    TECHNICAL_FAILURE: "Tech issue",
    CANCELLED: "Cancelled",
}
# An email SES refused to send because the address is on a suppression list (its bounce
# subtype, ``feedback_subtype``) reads "Blocked", not "No such address" (GC).
BLOCKED_SUBTYPES = frozenset({"suppressed", "on-account-suppression-list"})

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
    "Carrier issue": "Problème du fournisseur de services",
    "No such number": "Numéro inexistant",
    "Failed": "Échec",
    "Exceeds Protected A": "Dépasse Protégé A",
}


def status_description(
    status: str, notification_type: str, language: str = "en", feedback_subtype: str | None = None
) -> str:
    """The status as a person reads it (GC's words; ``feedback_subtype``: an email bounce's
    subtype); ``language`` "fr" for French (issue 22). A status without a description is
    shown as it is, in either language."""
    if notification_type == "email":
        if status == PERMANENT_FAILURE and feedback_subtype in BLOCKED_SUBTYPES:
            english = "Blocked"
        else:
            english = _EMAIL.get(status, status)
    else:
        english = _SMS.get(status, status)
    return _FRENCH.get(english, english) if language == "fr" else english

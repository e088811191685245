"""Status descriptions in GC Notify's words, channel by channel (cds-snc/notification-api
``models.py``: ``EMAIL_STATUS_FORMATTED``, ``SMS_STATUS_FORMATTED``, ``formatted_status``)."""

from __future__ import annotations

import pytest

from engine.domain import statuses as st


@pytest.mark.parametrize(
    ("status", "kind", "subtype", "words"),
    [
        ("created", "email", None, "In transit"),
        ("pending-virus-check", "email", None, "In transit"),
        ("sent", "email", None, "Delivered"),  # GC: an email "sent" reads Delivered
        ("sent", "sms", None, "Sent"),
        ("permanent-failure", "email", None, "No such address"),
        ("permanent-failure", "email", "suppressed", "Blocked"),
        ("permanent-failure", "email", "on-account-suppression-list", "Blocked"),
        ("permanent-failure", "sms", None, "No such number"),
        ("provider-failure", "sms", None, "No such number"),
        ("provider-failure", "email", None, "provider-failure"),  # GC has no words for it
        ("temporary-failure", "email", None, "Content or inbox issue"),
        ("temporary-failure", "sms", None, "Carrier issue"),
        ("technical-failure", "sms", None, "Tech issue"),
        ("virus-scan-failed", "email", None, "Attachment has virus"),
        ("pii-check-failed", "email", None, "Exceeds Protected A"),
        ("validation-failed", "email", None, "validation-failed"),
    ],
)
def test_gc_words(status: str, kind: str, subtype: str | None, words: str) -> None:
    assert st.status_description(status, kind, "en", subtype) == words

"""Rebuild a provider message from a stored notification (recovery, scheduled sends).

The API builds messages straight from the request; this does the same from a database row:
the stored subject/body are used as-is, and an email's HTML is rendered again from the
template version the notification was created with and its stored personalisation.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.providers.base import EmailMessage, Outbound, SmsMessage
from engine.services import ServiceBundle


def sender_address(bundle: ServiceBundle, domain: str) -> str:
    s = bundle.service
    if "@" in s.email_from:
        return s.email_from
    return f"{s.email_from}@{s.sending_domain or domain}"


def outbound_from_row(row: Any, bundle: ServiceBundle, compiled: Any, domain: str) -> Outbound:
    if row["notification_type"] == "email":
        personalisation = msgspec.json.decode(row["personalisation"] or "{}")
        rendered = compiled.render(personalisation)
        return EmailMessage(
            notification_id=row["id"],
            service_id=row["service_id"],
            to=row["recipient"],
            from_address=f"{bundle.service.name} <{sender_address(bundle, domain)}>",
            reply_to=row["reply_to_text"],
            subject=row["subject"] or rendered.subject,
            html=rendered.html,
            text=row["body"],
            unsubscribe_url=row["unsubscribe_url"],
            key_type=row["key_type"],
            lane=row["process_type"],
            created_at=row["created_at"],
        )
    return SmsMessage(
        notification_id=row["id"],
        service_id=row["service_id"],
        to=row["recipient"],
        body=row["body"],
        sender=row["reply_to_text"],
        key_type=row["key_type"],
        lane=row["process_type"],
        created_at=row["created_at"],
    )

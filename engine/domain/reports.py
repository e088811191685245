"""Reports of a service's notifications (issue 24, GC Notify's /v2/reports): what a
report covers, its CSV columns and how each row reads, in English or French.

Rules (GC's code, notification-api ``app/report/utils.py`` and ``app/celery/tasks.py``):
- A report covers the notifications of the last ``LIMIT_DAYS`` (7) days, never any past
  the service's retention for the channel (``since``). ``email`` and ``sms`` reports hold
  the service's notifications of that channel, newest first, of every key type (GC's
  query has no key-type filter); a ``job`` report the rows of one bulk job, in row order.
- Columns: Recipient, Template, Type, Sent by, Sent by email, Job, Status, Sent Time; a
  job report starts with Row number (the sheet's row, from 1) and has no Sent by columns.
  Nobody signs in here, so the Sent by columns are empty, as GC's are for API sends.
- Status as GC's report words it (``label``): its own table per channel, not the API's
  status descriptions; a status it does not name is shown as it is. One deviation,
  stated in the test: an email ``permanent-failure`` reads "No such address" (GC's table
  omits it and prints the raw status), the words GC uses for it everywhere else.
- Sent Time is the creation time in the service's time zone (GC: America/Toronto for
  every service), ``YYYY-MM-DD HH:MM:SS``.
- French: GC's translations of every header, type and status label.
- A ready report is kept ``DAYS_BEFORE_EXPIRY`` (3) days.
Pure: times are arguments.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from engine.domain.timezones import zone

LIMIT_DAYS = 7
DAYS_BEFORE_EXPIRY = 3
REPORT_TYPES = ("sms", "email", "job")
LANGUAGES = ("en", "fr")
STATUSES = ("requested", "generating", "ready", "error")
REQUESTS_PER_HOUR = 10

FRENCH = {
    "Recipient": "Destinataire",
    "Template": "Gabarit",
    "Type": "Type",
    "Sent by": "Envoyé par",
    "Sent by email": "Envoyé par courriel",
    "Job": "Tâche",
    "Row number": "Numéro de ligne",
    "Status": "État",
    "Sent Time": "Heure d’envoi",
    "email": "courriel",
    "sms": "sms",
    "Failed": "Échec",
    "Tech issue": "Problème technique",
    "Content or inbox issue": "Problème de contenu ou de boîte de réception",
    "Attachment has virus": "La pièce jointe contient un virus",
    "Delivered": "Livraison réussie",
    "In transit": "Envoi en cours",
    "Exceeds Protected A": "Niveau supérieur à Protégé A",
    "Carrier issue": "Problème du fournisseur",
    "No such number": "Numéro inexistant",
    "Sent": "Envoyé",
    "Blocked": "Message bloqué",
    "No such address": "Adresse inexistante",
}

_EMAIL = {
    "failed": "Failed",
    "technical-failure": "Tech issue",
    "temporary-failure": "Content or inbox issue",
    "permanent-failure": "No such address",  # not in GC's table: see the rules
    "virus-scan-failed": "Attachment has virus",
    "delivered": "Delivered",
    "sending": "In transit",
    "created": "In transit",
    "sent": "Delivered",
    "pending": "In transit",
    "pending-virus-check": "In transit",
    "pii-check-failed": "Exceeds Protected A",
}
_SMS = {
    "failed": "Failed",
    "technical-failure": "Tech issue",
    "temporary-failure": "Carrier issue",
    "permanent-failure": "No such number",
    "delivered": "Delivered",
    "sending": "In transit",
    "created": "In transit",
    "pending": "In transit",
    "sent": "Sent",
}
_BLOCKED_SUBTYPES = ("suppressed", "on-account-suppression-list")


def translate(text: str, language: str) -> str:
    return FRENCH.get(text, text) if language == "fr" else text


def label(status: str, notification_type: str, feedback_subtype: str | None, language: str) -> str:
    """The Status column of one notification."""
    if status == "provider-failure":
        if notification_type == "email":
            english = "Blocked" if feedback_subtype in _BLOCKED_SUBTYPES else "No such address"
        else:
            english = "No such number"
    else:
        table = _EMAIL if notification_type == "email" else _SMS
        english = table.get(status, status)
    return translate(english, language)


def since(now: dt.datetime, retention_cutoff: dt.datetime) -> dt.datetime:
    """The oldest creation time a report made at ``now`` covers."""
    return max(now - dt.timedelta(days=LIMIT_DAYS), retention_cutoff)


def header(language: str, *, job: bool) -> list[str]:
    names = ["Recipient", "Template", "Type"]
    names = ["Row number", *names, "Job"] if job else [*names, "Sent by", "Sent by email", "Job"]
    return [translate(n, language) for n in [*names, "Status", "Sent Time"]]


def sent_time(created_at: dt.datetime, time_zone: str) -> str:
    return created_at.astimezone(zone(time_zone)).strftime("%Y-%m-%d %H:%M:%S")


def row(
    *, recipient: str, template_name: str, notification_type: str, job_name: str | None,
    job_row_number: int | None, status: str, feedback_subtype: str | None,
    created_at: dt.datetime, language: str, time_zone: str, job: bool,
) -> list[str]:  # fmt: skip
    """One notification's CSV row."""
    first = [recipient, template_name, translate(notification_type, language)]
    if job:
        # Stored from 1 here (``engine.domain.notification``); GC stores from 0, shows + 1.
        number = "" if job_row_number is None else str(job_row_number)
        cells = [number, *first, job_name or ""]
    else:
        cells = [*first, "", "", job_name or ""]
    status_text = label(status, notification_type, feedback_subtype, language)
    return [*cells, status_text, sent_time(created_at, time_zone)]


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV the way PostgreSQL's ``COPY ... CSV`` writes them (GC's): quoted only
    when needed, ``\\n`` line ends, no byte order mark."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue()


def retry_after(oldest: dt.datetime, now: dt.datetime) -> int:
    """Seconds until the oldest request of the last hour leaves the window (at least 1)."""
    return max(1, int((oldest + dt.timedelta(hours=1) - now).total_seconds() + 0.999))

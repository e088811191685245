"""Amazon SES (v2) email provider: pure request builders and response parsers, one thin
async shell.

Rules:
- Bulk mode (default): ``SendBulkEmail``, up to 50 entries per call, with an inline
  pass-through template (``{{{subject}}}``, ``{{{html}}}``, ``{{{text}}}``): each entry's
  ReplacementTemplateData carries its own already-rendered subject, HTML and text. Triple
  braces because the body is rendered HTML and must not be escaped a second time.
- The bulk API sets sender and Reply-To per call, so a batch is split into one call per
  (from, reply-to) pair. A batch holds up to ``MAX_BATCH`` (four calls' worth): with
  several services sending at once, each sender's share of a batch still fills its calls,
  and the calls of one batch go out concurrently. ``List-Unsubscribe`` (+
  ``List-Unsubscribe-Post``, RFC 8058) goes in each entry's ReplacementHeaders. Messages
  with attachments, or too large for the template data limit, go through the single path.
- Single mode: ``SendEmail`` with the raw MIME message (stdlib ``email``), one call each.
  An attachment's base64 body is encoded at C speed and put in place of a random marker
  once the email package has written the message: the package's own encoder and
  generator cost ~47 ms per 1 MiB attachment, this ~15 ms (best of 10, issue 25).
- Results come back one per message, in order: accepted -> reference = SES MessageId,
  status ``sending``; failures are mapped per entry (``BULK_STATUS``) or per call
  (``aws.describe``). Nothing but cancellation escapes ``send_batch``.
- Each call (one bulk call, one raw send) has its own deadline (``aws.call``, ``deadline``
  seconds, ``NOTIFY_PROVIDER_TIMEOUT_SECONDS``); past it that call's messages are
  retryable, and the batch's other calls keep their answers (``aws``: the trade-off).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from email.message import EmailMessage as MimeMessage
from email.policy import SMTP
from email.utils import formataddr, parseaddr
from typing import Any, Literal

import msgspec
import trio

from engine.config import Settings
from engine.domain import statuses as st
from engine.domain.notification import EmailMessage, Outbound
from engine.providers import aws
from engine.providers.base import Channel, Outcome, SendResult, failed, failed_batch

MAX_BULK_ENTRIES = 50
# What the ProviderActor gathers per batch. One sender's 50 would split into calls of ~12
# with four services sending (bench/engine.py --services 4: 13.8 entries per call).
MAX_BATCH = 4 * MAX_BULK_ENTRIES
# SES caps EmailTemplateData at 262,144 characters per entry.
TEMPLATE_DATA_LIMIT = 262_144
PASS_THROUGH_TEMPLATE = {
    "Subject": "{{{subject}}}",
    "Html": "{{{html}}}",
    "Text": "{{{text}}}",
}
DEFAULT_TEMPLATE_DATA = json.dumps({"subject": "", "html": "", "text": ""})

BULK_STATUS: dict[str, Outcome] = {
    "SUCCESS": "accepted",
    "ACCOUNT_THROTTLED": "throttled",
    "ACCOUNT_DAILY_QUOTA_EXCEEDED": "throttled",
    "TRANSIENT_FAILURE": "retryable",
    "FAILED": "retryable",
    "MESSAGE_REJECTED": "rejected",
    "MAIL_FROM_DOMAIN_NOT_VERIFIED": "rejected",
    "CONFIGURATION_SET_NOT_FOUND": "rejected",
    "TEMPLATE_NOT_FOUND": "rejected",
    "ACCOUNT_SUSPENDED": "rejected",
    "INVALID_SENDING_POOL_NAME": "rejected",
    "ACCOUNT_SENDING_PAUSED": "rejected",
    "CONFIGURATION_SET_SENDING_PAUSED": "rejected",
    "INVALID_PARAMETER": "rejected",
}

Mode = Literal["bulk", "single"]


# -- pure builders ---------------------------------------------------------------------
def sender_address(from_address: str) -> str:
    """``Name <addr>`` with a non-ASCII name MIME-encoded, as the SES API requires."""
    name, address = parseaddr(from_address)
    return formataddr((name, address), charset="utf-8")


class _TemplateData(msgspec.Struct):
    subject: str
    html: str
    text: str


_encode_template_data = msgspec.json.Encoder().encode


def template_data(message: EmailMessage) -> str:
    """The per-destination ``ReplacementTemplateData`` (msgspec: ~10x cheaper than json)."""
    data = _TemplateData(message.subject, message.html, message.text)
    return _encode_template_data(data).decode()


def unsubscribe_headers(url: str) -> list[tuple[str, str]]:
    return [
        ("List-Unsubscribe", f"<{url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def bulk_eligible(message: EmailMessage) -> bool:
    return not message.attachments and len(template_data(message)) <= TEMPLATE_DATA_LIMIT


def plan(messages: Sequence[EmailMessage], mode: Mode) -> tuple[list[list[int]], list[int]]:
    """Split a batch into bulk calls (lists of indexes sharing from and reply-to, at most 50
    each) and single raw sends (indexes). Order within a call follows the batch."""
    if mode == "single":
        return [], list(range(len(messages)))
    groups: dict[tuple[str, str | None], list[list[int]]] = {}
    raw: list[int] = []
    for i, message in enumerate(messages):
        if not bulk_eligible(message):
            raw.append(i)
            continue
        chunks = groups.setdefault((message.from_address, message.reply_to), [[]])
        if len(chunks[-1]) == MAX_BULK_ENTRIES:
            chunks.append([])
        chunks[-1].append(i)
    return [chunk for chunks in groups.values() for chunk in chunks], raw


def build_bulk_request(
    messages: Sequence[EmailMessage], configuration_set: str = ""
) -> dict[str, Any]:
    """``SendBulkEmail`` arguments for messages sharing one sender and reply-to."""
    first = messages[0]
    entries: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {
            "Destination": {"ToAddresses": [message.to]},
            "ReplacementEmailContent": {
                "ReplacementTemplate": {"ReplacementTemplateData": template_data(message)}
            },
        }
        if message.unsubscribe_url:
            entry["ReplacementHeaders"] = [
                {"Name": name, "Value": value}
                for name, value in unsubscribe_headers(message.unsubscribe_url)
            ]
        entries.append(entry)
    request: dict[str, Any] = {
        "FromEmailAddress": sender_address(first.from_address),
        "DefaultContent": {
            "Template": {
                "TemplateContent": dict(PASS_THROUGH_TEMPLATE),
                "TemplateData": DEFAULT_TEMPLATE_DATA,
            }
        },
        "BulkEmailEntries": entries,
    }
    if first.reply_to:
        request["ReplyToAddresses"] = [first.reply_to]
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    return request


def build_mime(message: EmailMessage) -> bytes:
    """The complete MIME message: text + HTML alternatives, attachments, unsubscribe headers."""
    mime = MimeMessage(policy=SMTP)
    mime["From"] = message.from_address
    mime["To"] = message.to
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    if message.unsubscribe_url:
        for name, value in unsubscribe_headers(message.unsubscribe_url):
            mime[name] = value
    # Quoted-printable keeps the body 7-bit whatever the language and line length.
    mime.set_content(message.text, cte="quoted-printable")
    mime.add_alternative(message.html, subtype="html", cte="quoted-printable")
    bodies: dict[bytes, bytes] = {}
    for attachment in message.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        # A marker where the body goes: unguessable, so no text of the message holds it.
        marker = f"attachment-{uuid.uuid4().hex}"
        mime.add_attachment(
            marker.encode(),
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
        # What the package writes for the marker's bytes, and the real body's lines.
        written = base64.b64encode(marker.encode())
        bodies[written] = base64.encodebytes(attachment.content).replace(b"\n", b"\r\n")[:-2]
    raw = mime.as_bytes()
    for written, body in bodies.items():
        raw = raw.replace(written, body, 1)
    return raw


def build_raw_request(message: EmailMessage, configuration_set: str = "") -> dict[str, Any]:
    """``SendEmail`` arguments carrying the raw MIME message."""
    request: dict[str, Any] = {
        "FromEmailAddress": sender_address(message.from_address),
        "Destination": {"ToAddresses": [message.to]},
        "Content": {"Raw": {"Data": build_mime(message)}},
    }
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    return request


# -- pure parsers ----------------------------------------------------------------------
def accepted(message: Outbound, reference: str) -> SendResult:
    return SendResult(
        notification_id=message.notification_id,
        outcome="accepted",
        reference=reference,
        status=st.SENDING,
    )


def parse_bulk_response(
    messages: Sequence[EmailMessage], response: dict[str, Any]
) -> list[SendResult]:
    """One result per entry. A missing entry result is retryable (SES sent nothing we know of)."""
    entries = response.get("BulkEmailEntryResults") or []
    results: list[SendResult] = []
    for i, message in enumerate(messages):
        entry = entries[i] if i < len(entries) else {}
        status = str(entry.get("Status") or "")
        outcome = BULK_STATUS.get(status, "retryable")
        if outcome == "accepted" and entry.get("MessageId"):
            results.append(accepted(message, str(entry["MessageId"])))
        elif outcome == "accepted":
            results.append(failed(message, "retryable", "SES returned no MessageId"))
        else:
            error = entry.get("Error")
            detail = f"{status}: {error}" if error else status or "no result for entry"
            results.append(failed(message, outcome, detail))
    return results


def parse_send_response(message: EmailMessage, response: dict[str, Any]) -> SendResult:
    reference = response.get("MessageId")
    if not reference:
        return failed(message, "retryable", "SES returned no MessageId")
    return accepted(message, str(reference))


# -- async shell -----------------------------------------------------------------------
class SesProvider:
    """Sends email through an open aiobotocore ``sesv2`` client (owned by the caller)."""

    def __init__(
        self,
        client: Any,
        *,
        name: str = "ses-email",
        mode: Mode = "bulk",
        configuration_set: str = "",
        max_batch: int = MAX_BATCH,
        concurrency: int = 10,
        deadline: float = 5.0,
    ) -> None:
        self.name = name
        self.channel: Channel = "email"
        self.max_batch = max_batch
        self.mode: Mode = mode
        self.configuration_set = configuration_set
        self.deadline = deadline
        self._client = client
        self._limiter = trio.CapacityLimiter(concurrency)

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(messages)
        emails: list[EmailMessage] = []
        for i, message in enumerate(messages):
            if isinstance(message, EmailMessage):
                emails.append(message)
            else:
                results[i] = failed(message, "rejected", "SES sends email only")
        where = [i for i, m in enumerate(messages) if isinstance(m, EmailMessage)]
        groups, raw = plan(emails, self.mode)
        async with trio.open_nursery() as nursery:
            for group in groups:
                nursery.start_soon(
                    self._send_bulk, [emails[i] for i in group], group, where, results
                )
            for i in raw:
                nursery.start_soon(self._send_raw, emails[i], where[i], results)
        return [r for r in results if r is not None]

    async def _send_bulk(
        self,
        group: list[EmailMessage],
        indexes: list[int],
        where: list[int],
        results: list[SendResult | None],
    ) -> None:
        async with self._limiter:
            try:
                response = await aws.call(
                    self._client.send_bulk_email,
                    build_bulk_request(group, self.configuration_set),
                    self.deadline,
                )
            except aws.CLIENT_ERRORS as exc:
                outcome, detail, after = aws.describe(exc)
                parsed = failed_batch(group, outcome, detail, after)
            else:
                parsed = parse_bulk_response(group, response)
        for i, result in zip(indexes, parsed, strict=True):
            results[where[i]] = result

    async def _send_raw(
        self, message: EmailMessage, index: int, results: list[SendResult | None]
    ) -> None:
        async with self._limiter:
            try:
                response = await aws.call(
                    self._client.send_email,
                    build_raw_request(message, self.configuration_set),
                    self.deadline,
                )
            except aws.CLIENT_ERRORS as exc:
                outcome, detail, after = aws.describe(exc)
                results[index] = failed(message, outcome, detail, after)
            else:
                results[index] = parse_send_response(message, response)

    async def aclose(self) -> None:
        # The client belongs to whoever opened it (``open_ses``).
        await trio.lowlevel.checkpoint()


@asynccontextmanager
async def open_ses(
    settings: Settings,
    *,
    name: str = "ses-email",
    credentials: tuple[str, str] | None = None,
    concurrency: int = 10,
) -> AsyncIterator[SesProvider]:
    """An SES provider with its own client, configured from settings; closed on exit."""
    config = aws.provider_config(settings, max_connections=concurrency)
    async with aws.open_client("sesv2", settings, config=config, credentials=credentials) as client:
        yield SesProvider(
            client,
            name=name,
            mode=settings.ses_mode,
            configuration_set=settings.ses_configuration_set,
            concurrency=concurrency,
            deadline=settings.provider_timeout_seconds,
        )

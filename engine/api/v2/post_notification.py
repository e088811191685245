"""POST /v2/notifications/email and /sms: validate, admit, render, persist, enqueue.

Order of checks (GC): body schema -> rate limit -> template -> recipient -> render ->
daily/annual limits -> persist. The rules are ``engine.domain.admission``'s; the service's
rate and budgets are held by its actor (``admit``, then ``Reservation.take`` once the units
are known; released if the insert fails). The 201 is sent only after the row is committed
(group commit with other requests); the notification then goes to its service's lane.
Simulated smoke-test recipients get a 201 with a fresh id and are never persisted.
With an ``Idempotency-Key`` (``engine.api.idempotency``), the 201's body is committed in
the row's own transaction, so a retry is answered with it and nothing is sent twice.
The stored row, the provider message and the 201 are built by
``engine.domain.notification``, from the row.
A text to a number that opted out of the service (issue 24: it replied STOP / ARRET to
the service's inbound number, ``engine.api.inbound_sms``) is a 400 at admission: we know
before sending, so nothing is stored, counted or billed, and the client learns it in the
answer, as it learns of every other recipient it may not write to.
Language-aware sending (issue 22, beyond GC): an optional ``language`` ("en"/"fr", else
the service's ``default_language``) picks a template's French version when it has one
(``engine.domain.templates.choose_language``); the row records the version sent. Emails
are rendered in the service's branding (``engine.domain.branding``).
Per-send callback URL (issue 23, beyond GC): an optional ``callback_url`` receives this
notification's delivery-status callbacks instead of the service's endpoint, with the
endpoint's bearer token and signing secret; refused (400) unless the service has a
delivery-status endpoint and the URL's host is on its ``callback_hosts``
(``engine.domain.callback_urls.callback_url_message``: no DNS here). Checked before the
rate limit, as the body's other fields; bulk rows cannot carry one.
Files (issue 25): a notification with files is written ``pending-virus-check``, owned by
this process even when scheduled (nobody else may scan it meanwhile), and handed to the
scanner (``engine.actors.scanner``) after its commit; the scanner sends it on once clean.
Without a scanner, files are refused unless the deployment opted out of scanning.
The seam (issue 27): ``build`` (every check, the rate token, the row) and ``commit`` (the
budgets, the write, the lane) are what the console's one-off send calls too, with the
``Sender`` it sends as (``engine.api.auth.CONSOLE``): one place admits and builds a send.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from engine.actors.scanner import ScanJob
from engine.api.auth import AuthContext, Sender
from engine.api.errors import BadRequestError, ValidationError
from engine.api.http import Request, Response
from engine.api.v2.files import (
    NO_SCANNER,
    apply_files,
    attachments,
    extract_files,
    has_files,
    store_documents,
)
from engine.api.v2.formats import parse_scheduled_for
from engine.api.v2.schema import decode_or_explain, parse_uuid
from engine.domain import admission, callback_urls
from engine.domain import notification as nt
from engine.domain import statuses as st
from engine.domain.recipients import (
    InvalidRecipient,
    is_simulated_email,
    is_simulated_phone,
    validate_email_address,
    validate_phone_number,
)
from engine.domain.sanitise import Sanitised, sanitise
from engine.domain.templates import (
    SMS_CHAR_COUNT_LIMIT,
    MissingPersonalisation,
    RenderedEmail,
    RenderedSms,
    choose_language,
)
from engine.domain.timestamps import utcnow
from engine.metrics import NOTIFICATIONS_CREATED, labelled
from engine.services import email_frame

if TYPE_CHECKING:
    from engine.actors.service import Reservation, ServiceActor
    from engine.api.deps import ApiDeps, FileScanner
    from engine.api.idempotency import Pending
    from engine.services import ServiceBundle, Template

PERSONALISATION_LIMIT = 51_200
OPTED_OUT = (
    "This phone number has opted out of this service's text messages (it replied STOP or "
    "ARRET); it opts back in by replying START or DEBUT"
)
LANGUAGES = ("en", "fr")


class PostEmailRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email_address: str
    template_id: str
    personalisation: dict[str, Any] | None = None
    reference: str | None = None
    email_reply_to_id: str | None = None
    scheduled_for: str | None = None
    one_click_unsubscribe_url: str | None = None
    sanitise_content_for: list[str] | None = None
    language: str | None = None  # issue 22: "en" or "fr" (beyond GC)
    callback_url: str | None = None  # issue 23: this send's delivery-status callbacks


class PostSmsRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    phone_number: str
    template_id: str
    personalisation: dict[str, Any] | None = None
    reference: str | None = None
    sms_sender_id: str | None = None
    scheduled_for: str | None = None
    language: str | None = None
    callback_url: str | None = None


# In GC's schema order (post_email_request / post_sms_request), then GOV.UK's and our own.
EMAIL_SPEC = {
    "reference": (("string", "null"), False),
    "email_address": (("string",), True),
    "template_id": (("uuid",), True),
    "personalisation": (("object", "null"), False),
    "scheduled_for": (("string", "null"), False),
    "email_reply_to_id": (("uuid", "null"), False),
    "one_click_unsubscribe_url": (("string", "null"), False),
    "sanitise_content_for": (("array", "null"), False),
    "language": (("string", "null"), False),
    "callback_url": (("string", "null"), False),
}
SMS_SPEC = {
    "reference": (("string", "null"), False),
    "phone_number": (("string",), True),
    "template_id": (("uuid",), True),
    "personalisation": (("object", "null"), False),
    "scheduled_for": (("string", "null"), False),
    "sms_sender_id": (("uuid", "null"), False),
    "language": (("string", "null"), False),
    "callback_url": (("string", "null"), False),
}
_email_decoder = msgspec.json.Decoder(PostEmailRequest)
_sms_decoder = msgspec.json.Decoder(PostSmsRequest)


_encode = msgspec.json.Encoder().encode


async def post_email(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    body: PostEmailRequest = decode_or_explain(request.body, _email_decoder, EMAIL_SPEC)
    return await _post(deps, request, ctx, "email", body)


async def post_sms(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    body: PostSmsRequest = decode_or_explain(request.body, _sms_decoder, SMS_SPEC)
    return await _post(deps, request, ctx, "sms", body)


async def _post(
    deps: ApiDeps,
    request: Request,
    ctx: AuthContext,
    channel: str,
    body: PostEmailRequest | PostSmsRequest,
) -> Response:
    base = request.base_url(deps.settings.public_url)
    built = await build(deps, ctx.bundle, Sender.of(ctx.key), channel, body, base)
    return Response(201, await commit(deps, built, request.idempotency))


@dataclass(slots=True)
class Built:
    """A send admitted and built, not yet written (``build``): the row, what it renders
    to, the 201's body, and the hold on the service's budgets that ``commit`` takes."""

    bundle: ServiceBundle
    actor: ServiceActor
    reservation: Reservation
    template: Template
    row: nt.NotificationRow
    rendered: RenderedEmail | RenderedSms
    response: bytes
    files: list[Any]
    scanner: FileScanner | None
    simulated: bool


async def build(
    deps: ApiDeps,
    bundle: ServiceBundle,
    who: Sender,
    channel: str,
    body: PostEmailRequest | PostSmsRequest,
    base: str,
) -> Built:
    """Every check of a single send, in GC's order, up to the built row: the one place a
    notification is admitted and built (the v2 POST and the console's one-off send). Takes
    one rate-limit token; raises the ``ApiError`` / ``DomainError`` that refuses it."""
    now = utcnow()
    # Every format violation at once, in GC's schema order (its JSON-schema validation).
    errors: list[str] = []
    is_email = isinstance(body, PostEmailRequest)
    raw = body.email_address if isinstance(body, PostEmailRequest) else body.phone_number
    recipient: str | None = None
    international = False
    if raw.strip():  # blank: "Recipient can't be empty", after the template (GC)
        if isinstance(body, PostEmailRequest):
            recipient = _email_recipient(raw, errors)
        else:
            recipient, international = _sms_recipient(raw, bundle.service.phone_region, errors)
    template_id = parse_uuid(body.template_id, "template_id", errors)
    scheduled = None
    if body.scheduled_for:
        try:
            scheduled = parse_scheduled_for(body.scheduled_for, now, bundle.service.time_zone)
        except ValidationError as exc:
            errors += exc.messages
    sender_field = "email_reply_to_id" if is_email else "sms_sender_id"
    sender_id = body.email_reply_to_id if isinstance(body, PostEmailRequest) else body.sms_sender_id
    sender_uuid = parse_uuid(sender_id, sender_field, errors) if sender_id is not None else None
    unsubscribe_url = None
    if isinstance(body, PostEmailRequest) and body.one_click_unsubscribe_url is not None:
        unsubscribe_url = _https_url(body.one_click_unsubscribe_url, errors)
    if body.language is not None and body.language not in LANGUAGES:
        errors.append(f"language {body.language} is not one of [en, fr]")
    if errors:
        raise ValidationError(errors)
    assert template_id is not None
    callback_url = None
    if body.callback_url is not None:
        callback_url = _callback_url(deps, bundle, body.callback_url)
    personalisation = body.personalisation or {}
    _check_personalisation_size(personalisation)
    files = extract_files(personalisation, channel) if has_files(personalisation) else []
    if files and deps.scanner is None and not deps.settings.files_without_scan:
        raise BadRequestError(NO_SCANNER)

    actor = await deps.service_actors.get(bundle)
    reservation = await actor.admit(who.key_type)

    template = admission.find_template(bundle.templates, template_id, channel)
    if recipient is None:
        raise BadRequestError("Recipient can't be empty")
    if is_email:
        simulated = is_simulated_email(recipient)
    else:
        simulated = is_simulated_phone(recipient)
        if not simulated:
            admission.check_international(bundle.service, international)
        # Issue 24: only a service that receives texts has opt-outs (no lookup otherwise).
        if bundle.service.inbound_number is not None and await deps.store.inbound.opted_out(
            bundle.service.id, recipient
        ):
            raise BadRequestError(OPTED_OUT)
    reply_to = _sender(bundle, channel, sender_uuid, sender_field, sender_id or "")
    if not simulated:
        team = bundle.team_emails if channel == "email" else bundle.team_phones
        admission.check_recipient(bundle.service, team, who.key_type, channel, recipient)

    scanner = deps.scanner if files and not simulated else None
    if files:
        personalisation = apply_files(personalisation, files, base, simulated=simulated)
    subject_values: dict[str, Any] | None = None
    sanitised: dict[str, Sanitised] | None = None
    if isinstance(body, PostEmailRequest) and body.sanitise_content_for:
        personalisation, subject_values, sanitised = sanitise(
            personalisation, body.sanitise_content_for
        )
    version, lang = choose_language(
        template.has_french, body.language, bundle.service.default_language
    )
    compiled = deps.template_cache.compiled(template, bundle, version)
    try:
        if channel == "email":
            frame = email_frame(bundle, deps.settings.asset_base)
            rendered = compiled.render(personalisation, lang=lang, frame=frame)
        else:
            rendered = compiled.render(personalisation)
    except MissingPersonalisation as exc:
        # GC's send path names the template (check_placeholders); a preview does not.
        names = ", ".join(exc.names)
        raise BadRequestError(
            f"Missing personalisation for template ID {template.id}: {names}"
        ) from None

    subject: str | None = None
    if isinstance(rendered, RenderedEmail):
        if subject_values is not None:
            # The subject is plain text: URLs broken up, but no markdown escapes.
            subject = compiled.render(subject_values, with_html=False).subject
        if not rendered.text.strip():
            raise BadRequestError("Message is empty or just whitespace")
    else:
        if not rendered.body.strip():
            raise BadRequestError("Message is empty or just whitespace")
        if rendered.char_count > SMS_CHAR_COUNT_LIMIT:
            raise BadRequestError(
                "Content for template has a character count greater than the limit of "
                f"{SMS_CHAR_COUNT_LIMIT}"
            )

    spec = nt.RowSpec(
        service_id=bundle.service.id,
        template_id=template.id,
        template_version=template.version,
        api_key_id=who.key_id,
        key_type=who.key_type,
        channel=channel,
        lane=template.process_type,
        sender=reply_to,
        reference=body.reference,
        scheduled_for=scheduled,
        created_at=now,
        # A row waiting for its scan is ours until scanned, scheduled or not.
        owner=deps.owner() if scheduled is None or scanner is not None else None,
        language=version,
    )
    row = nt.accepted_row(
        spec,
        nt.new_ids(1, now)[0],
        recipient,
        personalisation,
        rendered,
        subject=subject,
        unsubscribe_url=unsubscribe_url,
        callback_url=callback_url,
    )
    if scanner is not None:
        row.status = st.PENDING_VIRUS_CHECK
    domain = deps.settings.notify_email_domain
    sender = nt.sender_address(bundle.service, domain) if channel == "email" else ""
    response = _encode(nt.post_response(row, base, sender, body.scheduled_for, sanitised))
    return Built(bundle, actor, reservation, template, row, rendered, response, files,
                 scanner, simulated)  # fmt: skip


async def commit(deps: ApiDeps, built: Built, pending: Pending | None = None) -> bytes:
    """Count a built send against the budgets, write it (with the ``Idempotency-Key``'s
    answer when ``pending``), hand it to its lane; the 201's body. A simulated recipient's
    send is answered and never written."""
    if built.simulated:
        return built.response
    bundle, row, files, scanner = built.bundle, built.row, built.files, built.scanner
    reservation, response = built.reservation, built.response
    channel = row.notification_type
    await reservation.take(channel, row.billable_units)
    try:
        if files:
            scan = "pending" if scanner is not None else "unscanned"
            await store_documents(
                deps.store, bundle.service.id, row.id, files, row.recipient, scan=scan
            )
        if pending is None:  # engine.api.idempotency: the answer commits with the row
            await deps.store.insert_notifications([row])
        else:
            await deps.store.insert_notifications([row], pending.answer(201, response))
            pending.committed = True
    except Exception:
        reservation.release()
        raise
    labelled(NOTIFICATIONS_CREATED, channel, row.key_type, built.template.process_type).inc()
    if row.scheduled_for is None or scanner is not None:
        rendered = built.rendered
        email = rendered if isinstance(rendered, RenderedEmail) else None
        from_address = nt.from_address(bundle.service, deps.settings.notify_email_domain)
        message = nt.outbound(row, email, from_address, attachments(files))
        actor = built.actor
        if scanner is None:
            deps.service_actors.dispatch(actor, message)
        else:
            assert row.owner is not None

            async def send() -> None:
                deps.service_actors.dispatch(actor, message)

            scanner.submit(ScanJob(row.id, row.owner, [f.content for f in files], send))
    return response


def _https_url(value: str, errors: list[str]) -> str:
    """UK's ``https_url`` format, plus GC's checks on unsubscribe links (dotted host, no
    white space or control characters)."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        host, parts = "", urlsplit("")
    if (
        parts.scheme != "https"
        or "." not in host
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        errors.append("one_click_unsubscribe_url is not a valid https url")
    return value


def _callback_url(deps: ApiDeps, bundle: ServiceBundle, url: str) -> str:
    """The send's ``callback_url``, as stored (``callback_urls.normal_url``), or a 400."""
    endpoint = bundle.callbacks.get("delivery_status")
    if endpoint is None:
        raise ValidationError(["callback_url needs a delivery_status callback for the service"])
    problem = callback_urls.callback_url_message(
        url, bundle.service.callback_hosts, allow_http=deps.settings.callback_allow_http
    )
    if problem is not None:
        raise ValidationError([problem])
    return callback_urls.normal_url(url)


def _check_personalisation_size(personalisation: dict[str, Any]) -> None:
    size = sum(len(str(v).encode()) for v in personalisation.values() if not isinstance(v, dict))
    if size > PERSONALISATION_LIMIT:
        raise BadRequestError(
            f"Personalisation variables size of {size} bytes is greater than allowed limit of "
            f"{PERSONALISATION_LIMIT} bytes."
        )


def _email_recipient(value: str, errors: list[str]) -> str | None:
    try:
        return validate_email_address(value)
    except InvalidRecipient as exc:
        errors.append(f"email_address {exc.message}")
        return None


def _sms_recipient(value: str, region: str, errors: list[str]) -> tuple[str | None, bool]:
    try:
        number = validate_phone_number(value, region)
    except InvalidRecipient as exc:
        errors.append(f"phone_number {exc.message}")
        return None, False
    return number.e164, number.is_international


def _sender(
    bundle: ServiceBundle, channel: str, sender: uuid.UUID | None, field: str, written: str
) -> str | None:
    email = channel == "email"
    return admission.resolve_sender(
        bundle.reply_tos if email else bundle.sms_senders,
        bundle.default_reply_to if email else bundle.default_sms_sender,
        sender,
        field=field,
        written=written,
        service_id=bundle.service.id,
    )

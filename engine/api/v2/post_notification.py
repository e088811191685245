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
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import BadRequestError, ValidationError
from engine.api.http import Request, Response
from engine.api.v2.files import (
    apply_files,
    attachments,
    extract_files,
    has_files,
    store_documents,
)
from engine.api.v2.formats import parse_scheduled_for
from engine.api.v2.schema import decode_or_explain, parse_uuid
from engine.domain import admission
from engine.domain import notification as nt
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
    choose_language,
)
from engine.domain.timestamps import utcnow
from engine.metrics import NOTIFICATIONS_CREATED
from engine.services import email_frame

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps
    from engine.services import ServiceBundle

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


class PostSmsRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    phone_number: str
    template_id: str
    personalisation: dict[str, Any] | None = None
    reference: str | None = None
    sms_sender_id: str | None = None
    scheduled_for: str | None = None
    language: str | None = None


_COMMON = {
    "template_id": (("string",), True),
    "personalisation": (("object", "null"), False),
    "reference": (("string", "null"), False),
    "scheduled_for": (("string", "null"), False),
    "language": (("string", "null"), False),
}
EMAIL_SPEC = {
    "email_address": (("string",), True),
    **_COMMON,
    "email_reply_to_id": (("string", "null"), False),
    "one_click_unsubscribe_url": (("string", "null"), False),
    "sanitise_content_for": (("array", "null"), False),
}
SMS_SPEC = {
    "phone_number": (("string",), True),
    **_COMMON,
    "sms_sender_id": (("string", "null"), False),
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
    bundle, key = ctx.bundle, ctx.key
    errors: list[str] = []
    template_id = parse_uuid(body.template_id, "template_id", errors)
    if errors:
        raise ValidationError(errors)
    assert template_id is not None
    if body.language is not None and body.language not in LANGUAGES:
        raise ValidationError([f"language {body.language} is not one of [en, fr]"])
    personalisation = body.personalisation or {}
    _check_personalisation_size(personalisation)
    files = extract_files(personalisation, channel) if has_files(personalisation) else []
    unsubscribe_url = None
    if isinstance(body, PostEmailRequest) and body.one_click_unsubscribe_url is not None:
        unsubscribe_url = _https_url(body.one_click_unsubscribe_url)
    now = utcnow()
    scheduled = (
        parse_scheduled_for(body.scheduled_for, now, bundle.service.time_zone)
        if body.scheduled_for
        else None
    )

    actor = await deps.service_actors.get(bundle)
    reservation = await actor.admit(key.key_type)

    template = admission.find_template(bundle.templates, template_id, channel)
    if isinstance(body, PostEmailRequest):
        recipient = _email_recipient(body.email_address)
        simulated = is_simulated_email(recipient)
        reply_to = _sender(bundle, "email", body.email_reply_to_id, "email_reply_to_id")
    else:
        recipient, international = _sms_recipient(body.phone_number, bundle.service.phone_region)
        simulated = is_simulated_phone(recipient)
        if not simulated:
            admission.check_international(bundle.service, international)
        reply_to = _sender(bundle, "sms", body.sms_sender_id, "sms_sender_id")
        # Issue 24: only a service that receives texts has opt-outs (no lookup otherwise).
        if bundle.service.inbound_number is not None and await deps.store.inbound.opted_out(
            bundle.service.id, recipient
        ):
            raise BadRequestError(OPTED_OUT)
    if not simulated:
        team = bundle.team_emails if channel == "email" else bundle.team_phones
        admission.check_recipient(bundle.service, team, key.key_type, channel, recipient)

    base = request.base_url(deps.settings.public_url)
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
        raise BadRequestError(str(exc)) from None

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
        api_key_id=key.id,
        key_type=key.key_type,
        channel=channel,
        lane=template.process_type,
        sender=reply_to,
        reference=body.reference,
        scheduled_for=scheduled,
        created_at=now,
        owner=deps.owner() if scheduled is None else None,
        language=version,
    )
    row = nt.accepted_row(
        spec,
        uuid.uuid4(),
        recipient,
        personalisation,
        rendered,
        subject=subject,
        unsubscribe_url=unsubscribe_url,
    )
    domain = deps.settings.notify_email_domain
    sender = nt.sender_address(bundle.service, domain) if channel == "email" else ""
    response = _encode(nt.post_response(row, base, sender, body.scheduled_for, sanitised))
    if simulated:
        return Response(201, response)

    await reservation.take(channel, row.billable_units)
    try:
        if files:
            await store_documents(deps.store, bundle.service.id, row.id, files)
        pending = request.idempotency  # engine.api.idempotency: the answer commits with the row
        if pending is None:
            await deps.store.insert_notifications([row])
        else:
            await deps.store.insert_notifications([row], pending.answer(201, response))
            pending.committed = True
    except Exception:
        reservation.release()
        raise
    NOTIFICATIONS_CREATED.labels(channel, key.key_type, template.process_type).inc()
    if scheduled is None:
        email = rendered if isinstance(rendered, RenderedEmail) else None
        from_address = nt.from_address(bundle.service, domain)
        deps.service_actors.dispatch(
            actor, nt.outbound(row, email, from_address, attachments(files))
        )
    return Response(201, response)


def _https_url(value: str) -> str:
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
        raise ValidationError(["one_click_unsubscribe_url is not a valid https url"])
    return value


def _check_personalisation_size(personalisation: dict[str, Any]) -> None:
    size = sum(len(str(v).encode()) for v in personalisation.values() if not isinstance(v, dict))
    if size > PERSONALISATION_LIMIT:
        raise BadRequestError(
            f"Personalisation variables size of {size} bytes is greater than allowed limit of "
            f"{PERSONALISATION_LIMIT} bytes."
        )


def _email_recipient(value: str) -> str:
    if not value.strip():
        raise BadRequestError("Recipient can't be empty")
    try:
        return validate_email_address(value)
    except InvalidRecipient as exc:
        raise ValidationError([f"email_address {exc.message}"]) from None


def _sms_recipient(value: str, region: str) -> tuple[str, bool]:
    if not value.strip():
        raise BadRequestError("Recipient can't be empty")
    try:
        number = validate_phone_number(value, region)
    except InvalidRecipient as exc:
        raise ValidationError([f"phone_number {exc.message}"]) from None
    return number.e164, number.is_international


def _sender(bundle: ServiceBundle, channel: str, sender_id: str | None, field: str) -> str | None:
    parsed = None
    if sender_id is not None:
        errors: list[str] = []
        parsed = parse_uuid(sender_id, field, errors)
        if errors:
            raise ValidationError(errors)
    email = channel == "email"
    return admission.resolve_sender(
        bundle.reply_tos if email else bundle.sms_senders,
        bundle.default_reply_to if email else bundle.default_sms_sender,
        parsed,
        field=field,
        written=sender_id or "",
        service_id=bundle.service.id,
    )

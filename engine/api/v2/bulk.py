"""POST /v2/notifications/bulk (GC): one request, up to 50,000 notifications, one job.

Order of checks (GC ``post_bulk`` / ``check_for_csv_errors``): body schema -> exactly one of
``rows`` / ``csv`` -> rate limit (one token per request) -> template -> headers ->
remaining daily messages -> row count -> team / trial recipients -> row errors -> render
(SMS length per row) -> limits counted -> job and rows committed -> 201 ``{"data": job}``.
The admission rules are ``engine.domain.admission``'s, the same as a single send's; the
service's actor holds the deployment-wide rate and budgets (``admit``, ``Reservation``).

Sending (rows are built by ``engine.domain.notification``, written by ``bulk_rows`` and
fed from the database by ``engine.actors.job_feeder``):
- Every row is written as a ``created`` notification with ``job_id`` and
  ``job_row_number`` through the store's COPY path, in large chunks, under a job inserted
  ``pending``; one final statement makes the job sendable (``finished`` or ``scheduled``)
  and the 201 follows its commit. Until then no row of the job is sent, by this process or
  by recovery: a process killed mid-job sends nothing of it (``engine.store.jobs``).
- Jobs of ``BULK_THRESHOLD`` rows or more use the service's bulk lane; smaller jobs use the
  template's lane (a ``bulk`` template is promoted to ``normal``), as GC does.
- Small jobs go to the lane at once from memory (an overflow is released to recovery, like
  a single send); large jobs are fed to the lane from the database at the lane's pace.
- A scheduled job reports ``scheduled``; its rows carry ``scheduled_for`` and are fed to
  the lane when due (recovery sends them if this process is gone by then).
- Rows all to simulated recipients give a job and nothing persisted; mixing simulated and
  real recipients is refused.
- The seam (issue 27): ``prepare`` (every check, nothing written; row errors as
  ``RowErrors``) and ``submit`` (prepare, then write and send) are what the console's CSV
  upload calls too, as ``engine.api.auth.CONSOLE``: one place admits a sheet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from engine.actors import job_feeder
from engine.api.auth import AuthContext, Sender
from engine.api.errors import BadRequestError, ValidationError
from engine.api.http import Request, Response
from engine.api.v2 import bulk_rows
from engine.api.v2.formats import parse_scheduled_for
from engine.api.v2.job_wire import Job, JobApiKey, JobResponse, NamedRef, ServiceName, iso
from engine.api.v2.schema import decode_or_explain, parse_uuid
from engine.domain import admission, csv_rows
from engine.domain import notification as nt
from engine.domain.recipients import (
    InvalidRecipient,
    is_simulated_email,
    is_simulated_phone,
    validate_email_address,
    validate_phone_number,
)
from engine.domain.templates import SMS_CHAR_COUNT_LIMIT, choose_language, placeholders
from engine.domain.timestamps import utcnow
from engine.metrics import NOTIFICATIONS_CREATED
from engine.services import email_frame
from engine.store.jobs import WRITING

if TYPE_CHECKING:
    from engine.actors.service import Reservation, ServiceActor
    from engine.api.deps import ApiDeps
    from engine.services import ServiceBundle, Template

BULK_THRESHOLD = 200
_SLICE = 1_000  # rows checked between scheduler checkpoints (~10 ms of work)


class PostBulkRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    template_id: str
    rows: list[list[Any]] | None = None
    csv: str | None = None
    scheduled_for: str | None = None
    reply_to_id: str | None = None
    reference: str | None = None


# In GC's schema order (post_bulk_request).
BULK_SPEC = {
    "template_id": (("uuid",), True),
    "reference": (("string", "null"), False),
    "scheduled_for": (("string", "null"), False),
    "reply_to_id": (("uuid", "null"), False),
    "csv": (("string", "null"), False),
    "rows": (("array", "null"), False),
    "name": (("string",), True),
}
_decoder = msgspec.json.Decoder(PostBulkRequest)


_encode = msgspec.json.Encoder().encode


class RowErrors(BadRequestError):
    """Rows of the sheet are wrong: the API's message, and the rows (``errors``) for a
    reader who shows them one by one (the console's upload)."""

    def __init__(self, message: str, errors: list[csv_rows.RowError]) -> None:
        super().__init__(message)
        self.errors = errors


SMS_TOO_LONG = "too long"  # a row's problem when its text is over the SMS limit


async def post_bulk(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    body: PostBulkRequest = decode_or_explain(request.body, _decoder, BULK_SPEC)
    job = await submit(deps, ctx.bundle, Sender.of(ctx.key), body)
    return Response(201, _encode(JobResponse(job)))


@dataclass(slots=True)
class Prepared:
    """A sheet that passed every check (``prepare``), not yet written."""

    bundle: ServiceBundle
    who: Sender
    actor: ServiceActor
    reservation: Reservation
    template: Template
    sender: str | None
    sender_id: uuid.UUID | None
    scheduled: dt.datetime | None
    checked: csv_rows.CheckedRows
    simulated: bool
    outs: list[Any] | None
    units: int
    created_at: dt.datetime

    @property
    def count(self) -> int:
        return len(self.checked.recipients)


async def prepare(
    deps: ApiDeps, bundle: ServiceBundle, who: Sender, body: PostBulkRequest
) -> Prepared:
    """Every check of a bulk send, in GC's order, nothing written: the one place a sheet is
    admitted (the v2 POST and the console's upload, whose check step stops here). Takes one
    rate-limit token; raises the ``ApiError`` / ``DomainError`` that refuses the sheet
    (``RowErrors`` for its rows)."""
    errors: list[str] = []
    template_id = parse_uuid(body.template_id, "template_id", errors)
    if errors:
        raise ValidationError(errors)
    assert template_id is not None
    if (body.rows is None) == (body.csv is None):
        raise BadRequestError("You should specify either rows or csv")
    if body.rows is not None and len(body.rows) < 2:
        raise ValidationError([f"rows {msgspec.json.encode(body.rows).decode()} is too short"])
    now = utcnow()
    scheduled = (
        parse_scheduled_for(body.scheduled_for, now, bundle.service.time_zone)
        if body.scheduled_for
        else None
    )

    actor = await deps.service_actors.get(bundle)
    reservation = await actor.admit(who.key_type)
    template = admission.find_template(bundle.templates, template_id)
    channel = template.template_type
    sender, sender_id = _sender(bundle, channel, body.reply_to_id)
    await reservation.load_remaining()  # the deployment-wide budgets, for the sheet's check
    sheet, columns = _check_sheet(body, reservation, template)
    checked = await _check_rows(sheet, columns, _recipient_check(bundle, channel))
    valid = [r for r in checked.recipients if r]
    simulated_check = is_simulated_email if channel == "email" else is_simulated_phone
    simulated = sum(1 for r in valid if simulated_check(r))
    if simulated and simulated != len(valid):
        raise BadRequestError("Bulk sending to testing and non-testing numbers is not supported")
    if not simulated:
        team = bundle.team_emails if channel == "email" else bundle.team_phones
        admission.check_recipients(bundle.service, team, who.key_type, channel, valid)
    if checked.errors:
        raise RowErrors(csv_rows.row_errors_message(checked.errors), checked.errors)

    outs: list[Any] | None = None
    if channel == "sms":
        # SMS renders are cheap and each row's length must pass before anything is written.
        version, _ = choose_language(template.has_french, None, bundle.service.default_language)
        compiled = deps.template_cache.compiled(template, bundle, version)
        outs = []
        for index, values in enumerate(checked.personalisations):
            if index % _SLICE == _SLICE - 1:
                await trio.lowlevel.checkpoint()
            out = compiled.render(values)
            outs.append(out)
            if out.char_count > SMS_CHAR_COUNT_LIMIT:
                raise RowErrors(
                    csv_rows.sms_too_long_message(index + 1, SMS_CHAR_COUNT_LIMIT),
                    [csv_rows.RowError(index + 1, [("", SMS_TOO_LONG)])],
                )
        units = sum(out.fragment_count for out in outs)
    else:
        units = len(checked.recipients)
    return Prepared(bundle, who, actor, reservation, template, sender, sender_id, scheduled,
                    checked, bool(simulated), outs, units, now)  # fmt: skip


async def submit(deps: ApiDeps, bundle: ServiceBundle, who: Sender, body: PostBulkRequest) -> Job:
    """``prepare``, then count, write and send the job (GC's ``post_bulk``): the job as the
    201 shows it."""
    p = await prepare(deps, bundle, who, body)
    template, channel, checked, count = p.template, p.template.template_type, p.checked, p.count
    scheduled, actor, reservation = p.scheduled, p.actor, p.reservation
    # Language-aware sending: a bulk send is in the service's default language.
    version, lang = choose_language(template.has_french, None, bundle.service.default_language)
    compiled = deps.template_cache.compiled(template, bundle, version)
    frame = email_frame(bundle, deps.settings.asset_base)
    outs = p.outs

    job_id = uuid.uuid4()
    spec = nt.RowSpec(
        job_id=job_id,
        service_id=bundle.service.id,
        template_id=template.id,
        template_version=template.version,
        api_key_id=who.key_id,
        key_type=who.key_type,
        channel=channel,
        lane=_lane(template, count),
        sender=p.sender,
        reference=body.reference,
        scheduled_for=scheduled,
        created_at=p.created_at,
        owner=deps.owner() if scheduled is None else None,
        language=version,
    )
    job = _job(job_id, spec, bundle, who, body.name, count, p.sender_id)
    if p.simulated:
        # Smoke-test recipients: the job exists, nothing is persisted or counted.
        await bulk_rows.insert_job(deps, spec, body.name, count, "finished", p.sender_id)
        return job

    # Check and count against the deployment-wide budgets: the need is granted whole or not.
    await reservation.take(channel, p.units, messages=count)

    small = scheduled is None and count < BULK_THRESHOLD

    def render(index: int) -> Any:
        if outs is not None:
            return outs[index]
        # Large and scheduled jobs are sent from their stored rows: HTML is rendered then.
        return compiled.render(
            checked.personalisations[index], with_html=small, lang=lang, frame=frame
        )

    try:
        await bulk_rows.insert_job(deps, spec, body.name, count, WRITING, p.sender_id)
        kept = await bulk_rows.write_rows(
            deps, spec, checked.recipients, checked.personalisations, render, keep=small
        )
        await bulk_rows.mark_sendable(deps, job_id, scheduled=scheduled is not None)
    except BaseException:
        reservation.release()
        await bulk_rows.discard(deps, job_id)
        raise
    NOTIFICATIONS_CREATED.labels(channel, who.key_type, spec.lane).inc(count)
    if scheduled is not None:
        deps.start_soon(
            job_feeder.feed_when_due, deps, bundle.service.id, template, job_id, scheduled
        )
    else:
        if small:
            from_address = nt.from_address(bundle.service, deps.settings.notify_email_domain)
            email = channel == "email"
            for row, out in kept:
                deps.service_actors.dispatch(
                    actor, nt.outbound(row, out if email else None, from_address)
                )
        else:
            deps.start_soon(job_feeder.feed, deps, actor, bundle, template, job_id)
    return job


def _job(
    job_id: uuid.UUID,
    spec: nt.RowSpec,
    bundle: ServiceBundle,
    who: Sender,
    name: str,
    count: int,
    sender_id: uuid.UUID | None,
) -> Job:
    key_id = str(who.key_id) if who.key_id else ""
    return Job(
        api_key=JobApiKey(key_id, who.key_type, who.name),
        archived=False,
        created_at=iso(spec.created_at) or "",
        created_by=NamedRef(key_id, who.name),
        id=str(job_id),
        job_status="scheduled" if spec.scheduled_for else "pending",
        notification_count=count,
        original_file_name=name,
        processing_finished=None,
        processing_started=None,
        scheduled_for=iso(spec.scheduled_for),
        sender_id=str(sender_id) if sender_id else None,
        service=str(bundle.service.id),
        service_name=ServiceName(bundle.service.name),
        template=str(spec.template_id),
        template_version=spec.template_version,
        updated_at=None,
    )


def _check_sheet(
    body: PostBulkRequest, reservation: Reservation, template: Template
) -> tuple[csv_rows.Sheet, csv_rows.Columns]:
    """Parse the sheet and check it as a whole, in GC's order (400 BadRequestError)."""
    channel = template.template_type
    try:
        if body.rows is not None:
            sheet = csv_rows.from_rows(body.rows)
        else:
            sheet = csv_rows.from_csv(body.csv or "")
        names = placeholders((template.subject or "") + "\n" + template.content)
        columns = csv_rows.check_headers(sheet, channel, names)
        if not sheet.rows:
            raise csv_rows.SheetError("No rows found in the file")
        reservation.check_remaining(channel, len(sheet.rows))
        csv_rows.check_row_count(sheet)
    except csv_rows.SheetError as exc:
        raise BadRequestError(exc.message) from None
    return sheet, columns


async def _check_rows(
    sheet: csv_rows.Sheet, columns: csv_rows.Columns, check: csv_rows.RecipientCheck
) -> csv_rows.CheckedRows:
    """Row checks in slices, yielding between them so a 50,000-row job does not hold up
    every other request for the whole validation."""
    parts = []
    for start in range(0, len(sheet.rows), _SLICE):
        part = csv_rows.Sheet(sheet.headers, sheet.rows[start : start + _SLICE])
        parts.append(csv_rows.check_rows(part, columns, check, first_row=start + 1))
        await trio.lowlevel.checkpoint()
    return csv_rows.CheckedRows(
        [r for p in parts for r in p.recipients],
        [v for p in parts for v in p.personalisations],
        [e for p in parts for e in p.errors],
    )


def _sender(
    bundle: ServiceBundle, channel: str, reply_to_id: str | None
) -> tuple[str | None, uuid.UUID | None]:
    parsed = None
    if reply_to_id is not None:
        errors: list[str] = []
        parsed = parse_uuid(reply_to_id, "reply_to_id", errors)
        if errors or parsed is None:
            raise ValidationError(errors)
    email = channel == "email"
    value = admission.resolve_sender(
        bundle.reply_tos if email else bundle.sms_senders,
        bundle.default_reply_to if email else bundle.default_sms_sender,
        parsed,
        field="reply_to_id",
        written=reply_to_id or "",
        service_id=bundle.service.id,
    )
    return value, parsed


def _lane(template: Template, count: int) -> str:
    if count >= BULK_THRESHOLD:
        return "bulk"
    return "normal" if template.process_type == "bulk" else template.process_type


def _recipient_check(bundle: ServiceBundle, channel: str) -> csv_rows.RecipientCheck:
    if channel == "email":

        def email(value: str) -> str | None:
            try:
                return validate_email_address(value)
            except InvalidRecipient:
                return None

        return email
    international_ok = bundle.service.international_sms
    region = bundle.service.phone_region
    cache: dict[str, str | None] = {}

    def phone(value: str) -> str | None:
        if value in cache:
            return cache[value]
        try:
            number = validate_phone_number(value, region)
        except InvalidRecipient:
            result = None
        else:
            allowed = international_ok or not number.is_international
            result = number.e164 if allowed or is_simulated_phone(number.e164) else None
        cache[value] = result
        return result

    return phone

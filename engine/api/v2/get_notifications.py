"""GET /v2/notifications/{id} and GET /v2/notifications (list, 250 a page).

List semantics (contract 1.7): only notifications sent with the caller's key type; jobs
excluded unless include_jobs; newest first; ``older_than`` is a cursor on created_at
(unknown id -> empty page); ``failed`` / ``accepted`` / ``received`` expand; ``links.next``
is present on every non-empty page. ``status_description`` is in French when the request
prefers it (``Accept-Language``, ``engine.api.i18n.choose``); every other field is data.

Filters beyond GC and GOV.UK (issue 24; asked for in their trackers): ``template_id`` (one
template; the name and the single UUID value are the Australian fork's, govau/notify),
``job_id`` (one bulk job's notifications, whatever ``include_jobs`` says: GC's job id), and
``created_after`` / ``created_before`` (ours: ISO 8601 date times, both bounds exclusive,
like ``older_than``; a value without an offset is read in the service's time zone, as
``scheduled_for`` is). Each takes one value; a bad one is a ValidationError listed with the
others.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import NotFoundError, ValidationError
from engine.api.http import Request, Response
from engine.api.i18n import choose
from engine.api.limits import query_args
from engine.domain import statuses as st
from engine.domain.timestamps import format_ts
from engine.domain.timezones import NonexistentLocalTime, to_utc

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

PAGE_SIZE = 250
_TYPES = ("sms", "email", "letter")


class TemplateLink(msgspec.Struct, frozen=True):
    id: str
    version: int
    uri: str


class SmsCost(msgspec.Struct, frozen=True):
    billable_sms_fragments: int


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    reference: str | None
    email_address: str | None
    phone_number: str | None
    line_1: None = None
    line_2: None = None
    line_3: None = None
    line_4: None = None
    line_5: None = None
    line_6: None = None
    postcode: None = None
    type: str
    status: str
    status_description: str
    provider_response: str | None
    template: TemplateLink
    body: str
    subject: str | None
    created_at: str | None
    created_by_name: None = None
    sent_at: str | None
    completed_at: str | None
    scheduled_for: str | None
    postage: None = None
    # GOV.UK's: the unsubscribe link sent in the email's headers, and the cost data it
    # keeps (the SMS fragments billed; no prices: neither GC nor we charge per message).
    one_click_unsubscribe_url: str | None
    is_cost_data_ready: bool
    cost_details: SmsCost | dict[str, Any]


class Links(msgspec.Struct, frozen=True, omit_defaults=True):
    current: str
    next: str | None = None


class NotificationList(msgspec.Struct, frozen=True):
    notifications: list[Notification]
    links: Links


_encode = msgspec.json.Encoder().encode
_EMPTY: dict[str, Any] = {}


def serialize(row: Any, base: str, language: str = "en") -> Notification:
    kind = row["notification_type"]
    status = row["status"]
    return Notification(
        id=str(row["id"]),
        reference=row["client_reference"],
        email_address=row["recipient"] if kind == "email" else None,
        phone_number=row["recipient"] if kind == "sms" else None,
        type=kind,
        status=status,
        status_description=st.status_description(
            status, kind, language, row.get("feedback_subtype")
        ),
        provider_response=row["provider_response"],
        template=TemplateLink(
            str(row["template_id"]),
            row["template_version"],
            f"{base}v2/template/{row['template_id']}/version/{row['template_version']}",
        ),
        body=row["body"],
        subject=row["subject"],
        created_at=format_ts(row["created_at"]),
        sent_at=format_ts(row["sent_at"]),
        completed_at=format_ts(row["updated_at"]) if status in st.COMPLETED else None,
        scheduled_for=format_ts(row["scheduled_for"]),
        one_click_unsubscribe_url=row.get("unsubscribe_url"),
        # GOV.UK: an SMS's cost is known once its fragments are (ours are at acceptance).
        is_cost_data_ready=kind != "sms" or bool(row.get("billable_units")),
        cost_details=_EMPTY if kind != "sms" else SmsCost(int(row.get("billable_units") or 0)),
    )


async def get_notification(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    raw = request.path_params["notification_id"]
    try:
        notification_id = uuid.UUID(raw)
    except ValueError:
        raise ValidationError(["notification_id is not a valid UUID"]) from None
    row = await deps.store.notifications.get(ctx.bundle.service.id, notification_id)
    if row is None:
        raise NotFoundError()
    base = request.base_url(deps.settings.public_url)
    language = choose(request.header(b"accept-language"))
    return Response(200, _encode(serialize(row, base, language)))


_ALLOWED_ARGS = {
    "template_type", "status", "reference", "older_than", "include_jobs",
    "template_id", "job_id", "created_after", "created_before",
}  # fmt: skip
_TIME_FORMAT = (
    "datetime format is invalid. It must be a valid ISO8601 date time format, "
    "https://en.wikipedia.org/wiki/ISO_8601"
)


def _parse_time(value: str, name: str, time_zone: str, errors: list[str]) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo is not None else to_utc(parsed, time_zone)
    except (ValueError, NonexistentLocalTime):
        errors.append(f"{name} {_TIME_FORMAT}")
        return None


def parse_list_args(
    query: dict[str, list[str]], time_zone: str = "UTC"
) -> tuple[dict[str, Any], list[str]]:
    errors: list[str] = []
    unexpected = [k for k in query if k not in _ALLOWED_ARGS]
    if unexpected:
        verb = "was" if len(unexpected) == 1 else "were"
        errors.append(
            f"Additional properties are not allowed ({', '.join(unexpected)} {verb} unexpected)"
        )
    args: dict[str, Any] = {}
    for t in query.get("template_type", []):
        if t not in _TYPES:
            errors.append(f"template_type {t} is not one of [{', '.join(_TYPES)}]")
    args["template_type"] = query.get("template_type", [])
    for s in query.get("status", []):
        if s not in st.ALL_STATUSES:
            errors.append(f"status {s} is not one of [{', '.join(st.ALL_STATUSES)}]")
    args["status"] = query.get("status", [])
    if "reference" in query:
        args["reference"] = query["reference"][0]
    if "older_than" in query:
        try:
            args["older_than"] = uuid.UUID(query["older_than"][0])
        except ValueError:
            errors.append("older_than is not a valid UUID")
    for name in ("template_id", "job_id"):
        if name in query:
            try:
                args[name] = uuid.UUID(query[name][0])
            except ValueError:
                errors.append(f"{name} is not a valid UUID")
    for name in ("created_after", "created_before"):
        if name in query:
            args[name] = _parse_time(query[name][0], name, time_zone, errors)
    include = query.get("include_jobs", ["false"])[0]
    if include not in ("true", "True", "false", "False"):
        errors.append(f"include_jobs {include} is not one of [true, True, false, False]")
    args["include_jobs"] = include in ("true", "True")
    return args, errors


async def list_notifications(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    query = query_args(request)
    args, errors = parse_list_args(query, ctx.bundle.service.time_zone)
    if errors:
        raise ValidationError(errors)
    rows = await deps.store.notifications.page(
        ctx.bundle.service.id,
        ctx.key.key_type,
        types=args["template_type"],
        statuses=st.expand_filter(args["status"]) if args["status"] else [],
        reference=args.get("reference"),
        include_jobs=args["include_jobs"],
        older_than=args.get("older_than"),
        limit=PAGE_SIZE,
        template_id=args.get("template_id"),
        job_id=args.get("job_id"),
        created_after=args.get("created_after"),
        created_before=args.get("created_before"),
    )
    base = request.base_url(deps.settings.public_url)
    language = choose(request.header(b"accept-language"))
    items = [serialize(r, base, language) for r in rows]
    current_args = [(k, v) for k, vs in query.items() for v in vs]
    url = f"{base}v2/notifications"
    current = url + ("?" + urlencode(current_args) if current_args else "")
    next_link = None
    if items:
        next_args = [(k, v) for k, v in current_args if k != "older_than"]
        next_args.append(("older_than", items[-1].id))
        next_link = f"{url}?{urlencode(next_args)}"
    return Response(200, _encode(NotificationList(items, Links(current, next_link))))

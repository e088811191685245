"""Admin API: provisioning services, templates, keys, senders, callbacks and team members.

Authenticated with ``Authorization: Bearer <NOTIFY_ADMIN_TOKEN>``; JSON in and out; errors
in the Notify envelope. Every write invalidates this process's cached service bundle at
once (``deps.service_changed``); every other process hears of it within a second, because
the database itself announces each committed change (``engine.store.changes``, migration
0010: no write here has to remember it). API key secrets are returned once, at creation,
and stored encrypted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import trio

from engine.api import branding as branding_api
from engine.api.admin_throttle import GuessThrottle
from engine.api.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    TooManyRequestsError,
    ValidationError,
)
from engine.api.http import Request, Response, json_response
from engine.api.limits import check_body
from engine.domain import branding, callback_urls, retention, template_edits
from engine.domain import callbacks as cb
from engine.domain.recipients import (
    InvalidRecipient,
    region_problem,
    validate_email_address,
    validate_phone_number,
)
from engine.domain.timezones import zone_problem

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps


# Limits are PostgreSQL integers: out of range is a 400, not a failed insert (500).
Limit = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
RateLimit = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class NewService(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    email_from: str
    id: uuid.UUID | None = None
    sending_domain: str | None = None
    restricted: bool = False
    rate_limit: RateLimit = 1000
    email_daily_limit: Limit = 10_000
    sms_daily_limit: Limit = 1500
    email_annual_limit: Limit = 20_000_000
    sms_annual_limit: Limit = 100_000
    prefix_sms: bool = True
    international_sms: bool = False


class ServiceUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | None = None
    email_from: str | None = None
    sending_domain: str | None = None
    restricted: bool | None = None
    active: bool | None = None
    suspended: bool | None = None
    rate_limit: RateLimit | None = None
    email_daily_limit: Limit | None = None
    sms_daily_limit: Limit | None = None
    email_annual_limit: Limit | None = None
    sms_annual_limit: Limit | None = None
    prefix_sms: bool | None = None
    international_sms: bool | None = None
    callback_language: Literal["en", "fr"] | None = None
    # Issue 22: null sets the service back to the deployment's default; absent: unchanged.
    phone_region: str | msgspec.UnsetType | None = msgspec.UNSET
    time_zone: str | msgspec.UnsetType | None = msgspec.UNSET
    # issue 22: email branding (engine.domain.branding) and the language of sends that
    # name none
    email_branding: Literal["none", "fip", "organisation"] | None = None
    default_branding_is_french: bool | None = None
    brand_name: str | None = None
    brand_colour: str | None = None
    default_language: Literal["en", "fr"] | None = None
    # issue 24: the E.164 number the service receives texts on (null: none)
    inbound_number: str | msgspec.UnsetType | None = msgspec.UNSET


class NewTemplate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    type: Literal["email", "sms"]
    content: str
    subject: str | None = None
    process_type: Literal["priority", "normal", "bulk"] = "normal"
    id: uuid.UUID | None = None
    created_by: str = "admin"
    # The French version (issue 22: language-aware sending); content_fr makes it.
    subject_fr: str | None = None
    content_fr: str | None = None


class NewKey(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    key_type: Literal["normal", "team", "test"] = "normal"
    # GC's API key permissions (issue 24): any key type may hold them.
    permissions: list[Literal["manage_templates", "manage_reports"]] = []


class NewReplyTo(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email_address: str
    is_default: bool = True


class NewSmsSender(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    sms_sender: str
    is_default: bool = True


class CallbackConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str
    bearer_token: str
    callback_type: Literal["delivery_status", "complaint", "inbound_sms"] = "delivery_status"
    signing_secret: str | None = None
    # Delivery-status callbacks only for these statuses (None: all of them).
    statuses: list[str] | None = None


class CallbackTarget(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    callback_type: Literal["delivery_status", "complaint", "inbound_sms"] | None = None
    # A per-send URL's origin (issue 23, ``engine.api.admin_callbacks``): resume it alone.
    origin: str | None = None


class RetentionPeriod(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    notification_type: Literal["email", "sms"]
    days_of_retention: int


class NewTeamMember(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email_address: str | None = None
    mobile_number: str | None = None


def check_admin(deps: ApiDeps, request: Request) -> None:
    token = deps.settings.admin_token.encode()
    # Bytes, not str: compare_digest refuses a str with non-ASCII characters (a 500).
    header = request.headers.get(b"authorization", b"")
    scheme, _, given = header.partition(b" ")
    if not header:
        raise AuthError("Unauthorized, admin token must be provided", status_code=401)
    if not token or scheme.lower() != b"bearer" or not hmac.compare_digest(given, token):
        raise AuthError("Invalid admin token")


def authorize(deps: ApiDeps, throttle: GuessThrottle, request: Request, now: float) -> None:
    """``check_admin``, throttled: a client past its failed-guess budget gets 429 and its
    token is not even compared (``engine.api.admin_throttle``)."""
    client = request.scope.get("client")
    address = str(client[0]) if client else ""
    if throttle.retry_after(address, now) > 0:
        raise TooManyRequestsError("Too many failed admin authentications; retry later")
    try:
        check_admin(deps, request)
    except AuthError as exc:
        if exc.status_code != 401:  # a token was given and was wrong: a guess
            throttle.failed(address, now)
        raise


def _decode(request: Request, kind: type[Any]) -> Any:
    check_body(request.body)
    try:
        return msgspec.json.decode(request.body or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationError([str(exc)]) from None
    except msgspec.DecodeError as exc:
        raise ApiError(f"Error decoding arguments: {exc}") from None


async def _service_id(deps: ApiDeps, request: Request) -> uuid.UUID:
    try:
        service_id = uuid.UUID(request.path_params["service_id"])
    except ValueError:
        raise ValidationError(["service_id is not a valid UUID"]) from None
    if not await deps.store.services.exists(service_id):
        raise NotFoundError()
    return service_id


def _row(record: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dict(record).items()}


async def create_service(deps: ApiDeps, request: Request) -> Response:
    body: NewService = _decode(request, NewService)
    service_id = body.id or uuid.uuid4()
    if await deps.store.services.exists(service_id):
        raise ValidationError([f"service {service_id} already exists"])
    row = await deps.store.services.create(
        service_id, name=body.name, email_from=body.email_from,
        sending_domain=body.sending_domain, restricted=body.restricted,
        rate_limit=body.rate_limit, email_daily_limit=body.email_daily_limit,
        sms_daily_limit=body.sms_daily_limit, email_annual_limit=body.email_annual_limit,
        sms_annual_limit=body.sms_annual_limit, prefix_sms=body.prefix_sms,
        international_sms=body.international_sms,
    )  # fmt: skip
    return json_response(201, _row(row))


async def get_service(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    row = await deps.store.services.get(service_id)
    return json_response(200, _row(row))


def _region_changes(body: ServiceUpdate) -> dict[str, str | None]:
    """``phone_region`` and ``time_zone`` as given (null: the deployment's default),
    checked against phonenumbers' regions and the tz database."""
    changes: dict[str, str | None] = {}
    problems = []
    if not isinstance(body.phone_region, msgspec.UnsetType):
        region = body.phone_region.upper() if body.phone_region is not None else None
        problem = region_problem(region) if region is not None else None
        if problem:
            problems.append(problem)
        changes["phone_region"] = region
    if not isinstance(body.time_zone, msgspec.UnsetType):
        problem = zone_problem(body.time_zone) if body.time_zone is not None else None
        if problem:
            problems.append(problem)
        changes["time_zone"] = body.time_zone
    if problems:
        raise ValidationError(problems)
    return changes


async def update_service(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: ServiceUpdate = _decode(request, ServiceUpdate)
    regions = _region_changes(body)
    changes = {
        k: v
        for k, v in msgspec.structs.asdict(body).items()
        if v is not None and k not in ("phone_region", "time_zone", "inbound_number")
    }
    changes.update(regions)
    if not isinstance(body.inbound_number, msgspec.UnsetType):
        changes["inbound_number"] = await _inbound_number(deps, service_id, body.inbound_number)
    if body.brand_colour is not None:
        changes["brand_colour"] = body.brand_colour.lower()
        problem = branding.colour_problem(changes["brand_colour"])
        if problem is not None:
            raise ValidationError([problem])
    await deps.store.services.update(service_id, changes)
    deps.service_changed(service_id)
    row = await deps.store.services.get(service_id)
    return json_response(200, _row(row))


async def _inbound_number(deps: ApiDeps, service_id: uuid.UUID, value: str | None) -> str | None:
    """Issue 24: the service's inbound number in E.164 (null: none); one service each."""
    if value is None:
        return None
    try:
        number = validate_phone_number(value, await _phone_region(deps, service_id)).e164
    except InvalidRecipient:
        raise ValidationError(["inbound_number must be a phone number"]) from None
    owner = await deps.store.inbound.service_for_number(number)
    if owner is not None and owner != service_id:
        raise ValidationError(["inbound_number is already used by another service"])
    return number


async def upload_logo(deps: ApiDeps, request: Request) -> Response:
    """The service's organisation logo (``engine.api.branding``)."""
    return await branding_api.upload_logo(deps, request, await _service_id(deps, request))


async def save_template(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: NewTemplate = _decode(request, NewTemplate)
    if "template_id" in request.path_params:
        try:
            template_id = uuid.UUID(request.path_params["template_id"])
        except ValueError:
            raise ValidationError(["template_id is not a valid UUID"]) from None
        body = msgspec.structs.replace(body, id=template_id)
    if template_edits.subject_missing(body.type, body.subject):
        raise ValidationError(["subject is required for an email template"])
    if template_edits.french_subject_alone(body.subject_fr, body.content_fr):
        raise ValidationError(["subject_fr needs content_fr (the French version)"])
    existing = None
    if body.id is not None:
        existing = await deps.store.templates.current_version(body.id)
        if existing is not None and existing["service_id"] != service_id:
            raise NotFoundError()
    template_id = body.id or uuid.uuid4()
    subject = body.subject if body.type == "email" else None
    version = 1 if existing is None else existing["version"] + 1
    await deps.store.templates.save(
        template_id, service_id, version=version, name=body.name, template_type=body.type,
        subject=subject, content=body.content, process_type=body.process_type,
        created_by=body.created_by,
        subject_fr=body.subject_fr if body.type == "email" else None, content_fr=body.content_fr,
    )  # fmt: skip
    deps.service_changed(service_id)
    return json_response(
        201 if existing is None else 200, {"id": str(template_id), "version": version}
    )


def _key_name(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip()) or "key"


async def issue_key(
    deps: ApiDeps, service_id: uuid.UUID, name: str, key_type: str,
    permissions: list[str] | None = None,
) -> tuple[uuid.UUID, str]:  # fmt: skip
    """Create a key (its secret stored sealed) and return its id and the full key, which
    is never retrievable again (the admin API and the console show it once)."""
    key_id, secret = uuid.uuid4(), str(uuid.uuid4())
    await deps.store.keys.create(
        key_id,
        service_id,
        name=name,
        key_type=key_type,
        secret_sealed=deps.seal(secret),
        secret_digest=hashlib.sha256(secret.encode()).digest(),
        permissions=list(dict.fromkeys(permissions or [])),
    )
    deps.service_changed(service_id)
    return key_id, f"{_key_name(name)}-{service_id}-{secret}"


async def create_api_key(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: NewKey = _decode(request, NewKey)
    key_id, key = await issue_key(deps, service_id, body.name, body.key_type,
                                  list(body.permissions))  # fmt: skip
    return json_response(
        201,
        {
            "id": str(key_id),
            "name": body.name,
            "key_type": body.key_type,
            "key": key,
            "permissions": list(dict.fromkeys(body.permissions)),
        },
    )


async def revoke_api_key(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    try:
        key_id = uuid.UUID(request.path_params["key_id"])
    except ValueError:
        raise ValidationError(["key_id is not a valid UUID"]) from None
    if not await deps.store.keys.revoke(service_id, key_id):
        raise NotFoundError()
    deps.service_changed(service_id)
    return json_response(200, {"id": str(key_id), "revoked": True})


async def add_reply_to(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: NewReplyTo = _decode(request, NewReplyTo)
    try:
        address = validate_email_address(body.email_address)
    except InvalidRecipient as exc:
        raise ValidationError([f"email_address {exc.message}"]) from None
    new_id = uuid.uuid4()
    await deps.store.services.add_reply_to(service_id, new_id, address, is_default=body.is_default)
    deps.service_changed(service_id)
    return json_response(201, {"id": str(new_id), "email_address": address})


_SENDER_ID = re.compile(r"^[A-Za-z0-9]{3,11}$")


async def _phone_region(deps: ApiDeps, service_id: uuid.UUID) -> str:
    """The service's phone region (its own, else the deployment's: the registry's)."""
    bundle = await deps.registry.get(service_id)
    return bundle.service.phone_region if bundle is not None else "CA"


def _sms_sender(value: str, region: str) -> str:
    """An alphanumeric sender ID or short code as given, else a phone number in E.164
    (a local number read in the service's ``region``)."""
    text = value.strip()
    if _SENDER_ID.match(text):
        return text
    try:
        return validate_phone_number(text, region).e164
    except InvalidRecipient:
        raise ValidationError(
            ["sms_sender must be a phone number, a short code or 3 to 11 letters and digits"]
        ) from None


async def add_sms_sender(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: NewSmsSender = _decode(request, NewSmsSender)
    sender = _sms_sender(body.sms_sender, await _phone_region(deps, service_id))
    new_id = uuid.uuid4()
    await deps.store.services.add_sms_sender(service_id, new_id, sender, is_default=body.is_default)
    deps.service_changed(service_id)
    return json_response(201, {"id": str(new_id), "sms_sender": sender})


async def _callback_url_problem(deps: ApiDeps, url: str) -> str | None:
    """The SSRF rules of ``engine.domain.callback_urls`` for a URL being set: its form,
    then every address its host resolves to now (delivery checks them again)."""
    settings = deps.settings
    problem = callback_urls.url_problem(url, allow_http=settings.callback_allow_http)
    if problem is not None or settings.callback_allow_private:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = await trio.socket.getaddrinfo(host, parts.port or 443, type=trio.socket.SOCK_STREAM)
    except OSError:
        return f"url host {host} cannot be resolved"
    for info in found:
        problem = callback_urls.address_problem(str(info[4][0]), allow_private=False)
        if problem is not None:
            return problem
    return None


async def set_callback(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: CallbackConfig = _decode(request, CallbackConfig)
    result: dict[str, Any] = {
        "service_id": str(service_id),
        "callback_type": body.callback_type,
        "url": body.url,
    }
    health = await configure_callback(deps, service_id, body)
    if health is not None:
        result["health_check"] = health
    return json_response(200, result)


async def configure_callback(
    deps: ApiDeps, service_id: uuid.UUID, body: CallbackConfig
) -> dict[str, Any] | None:
    """Check and store a callback (``ValidationError`` names what is refused); then the
    health check's answer (``CallbackManager.check_after_change``), if it ran."""
    problem = await _callback_url_problem(deps, body.url)
    if problem is not None:
        raise ValidationError([problem])
    if len(body.bearer_token) < 10:
        raise ValidationError(["bearer_token must be at least 10 characters"])
    unknown = sorted(set(body.statuses or ()) - cb.CALLBACK_STATUSES)
    if unknown:
        raise ValidationError([
            f"statuses must be among {', '.join(sorted(cb.CALLBACK_STATUSES))}, not "
            f"{', '.join(unknown)}"
        ])  # fmt: skip
    if body.statuses is not None and body.callback_type != "delivery_status":
        raise ValidationError(["statuses apply to delivery_status callbacks only"])
    signing = deps.seal(body.signing_secret) if body.signing_secret else None
    await deps.store.callbacks.configure(
        service_id,
        body.callback_type,
        url=body.url,
        bearer_sealed=deps.seal(body.bearer_token),
        signing_sealed=signing,
        statuses=body.statuses,
    )
    deps.service_changed(service_id)
    return await deps.callbacks.check_after_change((service_id, body.callback_type))


async def resume_callback(deps: ApiDeps, request: Request) -> Response:
    """Lift a suspension (all callback types unless ``callback_type`` is given; one
    per-send origin when ``origin`` is)."""
    service_id = await _service_id(deps, request)
    body: CallbackTarget = _decode(request, CallbackTarget)
    if body.origin is not None:
        origins = await deps.callbacks.resume_origins(service_id, [body.origin])
        return json_response(200, {
            "service_id": str(service_id), "resumed": [], "origins": origins,
        })  # fmt: skip
    kinds = (
        [body.callback_type]
        if body.callback_type
        else ["delivery_status", "complaint", "inbound_sms"]
    )
    configured = await deps.store.callbacks.configured_types(service_id, kinds)
    if not configured:
        raise NotFoundError("No callback configured")
    resumed = await deps.callbacks.resume(service_id, configured)
    deps.service_changed(service_id)
    return json_response(200, {"service_id": str(service_id), "resumed": resumed})


async def test_callback(deps: ApiDeps, request: Request) -> Response:
    """Send ``{"health_check": "true"}``; report the endpoint's status and response time."""
    service_id = await _service_id(deps, request)
    body: CallbackTarget = _decode(request, CallbackTarget)
    kind = body.callback_type or "delivery_status"
    result = await deps.callbacks.health_check((service_id, kind))
    if result is None:
        raise NotFoundError("No callback configured")
    return json_response(200, {"service_id": str(service_id), "callback_type": kind, **result})


async def add_team_member(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    body: NewTeamMember = _decode(request, NewTeamMember)
    if not body.email_address and not body.mobile_number:
        raise ValidationError(["email_address or mobile_number is required"])
    try:
        email = validate_email_address(body.email_address) if body.email_address else None
        mobile = None
        if body.mobile_number:
            region = await _phone_region(deps, service_id)
            mobile = validate_phone_number(body.mobile_number, region).e164
    except InvalidRecipient as exc:
        raise ValidationError([exc.message]) from None
    new_id = uuid.uuid4()
    await deps.store.services.add_team_member(
        service_id, new_id, email_address=email, mobile_number=mobile
    )
    deps.service_changed(service_id)
    return json_response(201, {"id": str(new_id), "email_address": email, "mobile_number": mobile})


async def get_data_retention(deps: ApiDeps, request: Request) -> Response:
    """Each channel's retention in days (7 unless the service set its own)."""
    service_id = await _service_id(deps, request)
    periods = await deps.store.retention.periods(service_id)
    return json_response(200, {"service_id": str(service_id), "data_retention": [
        {"notification_type": channel, "days_of_retention": days}
        for channel, days in periods.items()
    ]})  # fmt: skip


async def set_data_retention(deps: ApiDeps, request: Request) -> Response:
    """Set one channel's retention (3 to 90 days; ``engine.domain.retention``)."""
    service_id = await _service_id(deps, request)
    body: RetentionPeriod = _decode(request, RetentionPeriod)
    refused = retention.check_days(body.days_of_retention)
    if refused:
        raise ValidationError([refused])
    await deps.store.retention.set_period(
        service_id, body.notification_type, body.days_of_retention
    )
    return await get_data_retention(deps, request)


def _date_param(request: Request, name: str, default: dt.date) -> dt.date:
    values = request.query().get(name)
    if not values:
        return default
    try:
        return dt.date.fromisoformat(values[0])
    except ValueError:
        raise ValidationError([f"{name} is not a date (YYYY-MM-DD)"]) from None


async def get_usage(deps: ApiDeps, request: Request) -> Response:
    """Notifications per day, channel and status, kept or already purged (statistics)."""
    service_id = await _service_id(deps, request)
    today = dt.datetime.now(dt.UTC).date()
    end = _date_param(request, "end_date", today)
    start = _date_param(request, "start_date", end - dt.timedelta(days=6))
    if start > end or (end - start).days > 366:
        raise ValidationError(["start_date must be on or before end_date, within 366 days"])
    rows = await deps.store.retention.usage(service_id, start, end)
    return json_response(200, {"service_id": str(service_id), "usage": [
        {"day": r["day"].isoformat(), "notification_type": r["notification_type"],
         "status": r["status"], "notifications": r["notifications"],
         "billable_units": r["billable_units"]}
        for r in rows
    ]})  # fmt: skip

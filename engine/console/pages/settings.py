"""A service's settings (the ``manage_settings`` role): name, default language, time zone,
email branding, data retention per channel, reply-to addresses, text message senders;
the daily and annual limits, which only a platform admin may change.

Rules:
- The rules are the admin API's, not written twice: time zones
  (``timezones.zone_problem``), retention (``retention.check_days``: 3 to 90 days),
  reply-to addresses (``recipients.validate_email_address``), SMS senders
  (``engine.api.admin._sms_sender``), limits (``engine.api.admin.Limit``'s range); the
  writes are the store calls the admin API makes. The console words each refusal in
  both languages.
- The form is checked whole: any refused field refuses the form (400, an error summary
  linking to each field); nothing is written.
- A limit sent by someone who is not a platform admin is refused (403) even if the page
  never showed them the fields.
- Every write tells this process at once (``deps.service_changed``); the others hear of it
  from the database, as they do of the admin API's writes.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from engine.api.admin import _phone_region, _sms_sender
from engine.api.errors import ValidationError
from engine.api.http import Response
from engine.api.router import Router
from engine.console import web
from engine.console.app import PREFIX, Ctx, service_page
from engine.console.pages.api_keys import service_zone
from engine.domain import retention
from engine.domain.recipients import InvalidRecipient, validate_email_address
from engine.domain.timezones import zone_problem

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

LIMITS = ("email_daily_limit", "sms_daily_limit", "email_annual_limit", "sms_annual_limit")
LIMIT_MAX = 2**31 - 1
LANGUAGES = ("en", "fr")
BRANDINGS = ("fip", "organisation", "none")


def add_routes(r: Router, wrap: Wrap) -> None:
    base = f"{PREFIX}/services/{{service_id}}/settings"
    r.add("GET", base, wrap(settings))
    r.add("POST", base, wrap(save))
    r.add("POST", f"{base}/reply-to", wrap(add_reply_to))
    r.add("POST", f"{base}/sms-senders", wrap(add_sms_sender))


async def _page(c: Ctx, service: Row, status: int = 200, **extra: Any) -> Response:
    service_id = service["id"]
    current = {
        "name": service["name"], "default_language": service["default_language"],
        "time_zone": await service_zone(c, service), "email_branding": service["email_branding"],
        "french_first": service["default_branding_is_french"],
        **{f"retention_{k}": str(v)
           for k, v in (await c.deps.store.retention.periods(service_id)).items()},
        **{k: str(service[k]) for k in LIMITS},
    }  # fmt: skip
    context: dict[str, Any] = {"errors": {}, "form": {}, "notice": None}
    context.update(extra)
    if context["notice"] is None and c.request.query().get("done") == ["saved"]:
        context["notice"] = c.t("st_saved")
    assert c.user is not None
    return c.render(status, "settings.html", service=service, section="settings",
                    values={**current, **context.pop("form")},
                    reply_tos=await c.deps.store.services.reply_to_addresses(service_id),
                    senders=await c.deps.store.services.sms_senders(service_id),
                    may_change_limits=bool(c.user["platform_admin"]),
                    languages=LANGUAGES, brandings=BRANDINGS, retention_min=retention.MIN_DAYS,
                    retention_max=retention.MAX_DAYS, limits=LIMITS, **context)  # fmt: skip


@service_page("manage_settings")
async def settings(c: Ctx, service: Row) -> Response:
    return await _page(c, service)


def _whole(text: str, low: int, high: int) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if low <= value <= high else None


def check(c: Ctx, fields: dict[str, str], limits: bool) -> tuple[dict[str, Any], dict[str, int],
                                                                 dict[str, str]]:  # fmt: skip
    """The service's changes, the retention periods and the refusals (field id: words)."""
    changes: dict[str, Any] = {}
    periods: dict[str, int] = {}
    errors: dict[str, str] = {}
    name = " ".join(fields.get("name", "").split())
    if name:
        changes["name"] = name
    else:
        errors["name"] = c.t("st_name_missing")
    if fields.get("default_language") in LANGUAGES:
        changes["default_language"] = fields["default_language"]
    zone = fields.get("time_zone", "").strip()
    if zone_problem(zone) is None:
        changes["time_zone"] = zone
    else:
        errors["time_zone"] = c.t("st_time_zone_bad", zone=zone)
    if fields.get("email_branding") in BRANDINGS:
        changes["email_branding"] = fields["email_branding"]
    changes["default_branding_is_french"] = fields.get("french_first") == "on"
    for channel in retention.CHANNELS:
        days = _whole(fields.get(f"retention_{channel}", ""), -LIMIT_MAX, LIMIT_MAX)
        if days is None or retention.check_days(days) is not None:
            errors[f"retention_{channel}"] = c.t("st_retention_bad", min=retention.MIN_DAYS,
                                                 max=retention.MAX_DAYS)  # fmt: skip
        else:
            periods[channel] = days
    if limits:
        for key in LIMITS:
            value = _whole(fields.get(key, ""), 0, LIMIT_MAX)
            if value is None:
                errors[key] = c.t("st_limit_bad")
            else:
                changes[key] = value
    return changes, periods, errors


@service_page("manage_settings")
async def save(c: Ctx, service: Row) -> Response:
    assert c.user is not None
    fields = web.form(c.request)
    limits = any(k in fields for k in LIMITS)
    if limits and not c.user["platform_admin"]:
        return c.render(403, "error.html", title=c.t("forbidden_title"),
                        message=c.t("st_limits_readonly"))  # fmt: skip
    changes, periods, errors = check(c, fields, limits)
    if errors:
        kept = ("name", "time_zone", "retention_email", "retention_sms", *LIMITS)
        typed = {k: fields[k] for k in kept if k in fields}
        return await _page(c, service, 400, errors=errors, form=typed)
    await c.deps.store.services.update(service["id"], changes)
    periods_now = await c.deps.store.retention.periods(service["id"])
    for channel, days in periods.items():
        if periods_now.get(channel) != days:
            await c.deps.store.retention.set_period(service["id"], channel, days)
    c.deps.service_changed(service["id"])
    return c.redirect(f"{PREFIX}/services/{service['id']}/settings?done=saved")


@service_page("manage_settings")
async def add_reply_to(c: Ctx, service: Row) -> Response:
    fields = web.form(c.request)
    given = fields.get("email_address", "").strip()
    try:
        address = validate_email_address(given)
    except InvalidRecipient:
        return await _page(c, service, 400, errors={"email_address": c.t("st_reply_to_bad")},
                           form={"email_address": given})  # fmt: skip
    first = not await c.deps.store.services.reply_to_addresses(service["id"])
    default = first or fields.get("is_default") == "on"
    await c.deps.store.services.add_reply_to(service["id"], uuid.uuid4(), address,
                                             is_default=default)  # fmt: skip
    c.deps.service_changed(service["id"])
    return c.redirect(f"{PREFIX}/services/{service['id']}/settings?done=saved")


@service_page("manage_settings")
async def add_sms_sender(c: Ctx, service: Row) -> Response:
    fields = web.form(c.request)
    given = fields.get("sms_sender", "").strip()
    try:
        sender = _sms_sender(given, await _phone_region(c.deps, service["id"]))
    except ValidationError:
        return await _page(c, service, 400, errors={"sms_sender": c.t("st_sms_sender_bad")},
                           form={"sms_sender": given})  # fmt: skip
    first = not await c.deps.store.services.sms_senders(service["id"])
    default = first or fields.get("is_default") == "on"
    await c.deps.store.services.add_sms_sender(service["id"], uuid.uuid4(), sender,
                                               is_default=default)  # fmt: skip
    c.deps.service_changed(service["id"])
    return c.redirect(f"{PREFIX}/services/{service['id']}/settings?done=saved")

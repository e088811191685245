"""A service's API keys (the ``manage_api_keys`` role): listing with each key's last use,
creating, revoking.

Rules:
- A key is created by the admin API's own code (``engine.api.admin.issue_key``: the same
  secret, sealing and format, ``name-service_id-secret``). The full key is in the answer
  to the creating POST only (a ``no-store`` page): it is never stored in clear, never
  logged, never shown again; the list shows names only.
- Last used: the stored time (``api_keys.last_used_at``) or this process's memory of a
  later use (``engine.api.key_usage``), shown in the service's time zone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from engine.api.admin import issue_key
from engine.api.http import Response
from engine.api.router import Router
from engine.console import web
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.domain.timezones import zone

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

KEY_TYPES = ("normal", "team", "test")
MAX_NAME = 255


def add_routes(r: Router, wrap: Wrap) -> None:
    base = f"{PREFIX}/services/{{service_id}}/api-keys"
    r.add("GET", base, wrap(api_keys))
    r.add("GET", f"{base}/new", wrap(new_key_form))
    r.add("POST", f"{base}/new", wrap(create_key))
    r.add("POST", f"{base}/{{key_id}}/revoke", wrap(revoke_key))


def when(at: dt.datetime | None, time_zone: str) -> str:
    """An instant as the service's team reads it: local date and time, and the zone."""
    if at is None:
        return ""
    return f"{at.astimezone(zone(time_zone)):%Y-%m-%d %H:%M} ({time_zone})"


async def service_zone(c: Ctx, service: Row) -> str:
    """The service's time zone (its own, else the deployment's: the registry's)."""
    bundle = await c.deps.registry.get(service["id"])
    return bundle.service.time_zone if bundle is not None else "UTC"


@service_page("manage_api_keys")
async def api_keys(c: Ctx, service: Row) -> Response:
    keys = await c.deps.store.keys.for_service(service["id"])
    revoked = c.request.query().get("revoked", [""])[0]
    done = next((k["name"] for k in keys if str(k["id"]) == revoked and k["expiry_date"]), None)
    time_zone = await service_zone(c, service)
    used = {
        k["id"]: when(c.deps.key_usage.last_used(k["id"], k["last_used_at"]), time_zone)
        for k in keys
    }
    return c.render(200, "api_keys.html", service=service, section="api_keys", keys=keys,
                    done=done, used=used)  # fmt: skip


def _form(c: Ctx, service: Row, status: int, errors: dict[str, str], name: str = "",
          key_type: str = "") -> Response:  # fmt: skip
    return c.render(status, "api_key_new.html", service=service, section="api_keys",
                    errors=errors, name=name, key_type=key_type,
                    key_types=KEY_TYPES)  # fmt: skip


@service_page("manage_api_keys")
async def new_key_form(c: Ctx, service: Row) -> Response:
    return _form(c, service, 200, {})


@service_page("manage_api_keys")
async def create_key(c: Ctx, service: Row) -> Response:
    fields = web.form(c.request)
    name = " ".join(fields.get("name", "").split())
    key_type = fields.get("key_type", "")
    errors = {}
    if not name:
        errors["name"] = c.t("ak_name_missing")
    elif len(name) > MAX_NAME:
        errors["name"] = c.t("ak_name_long", max=MAX_NAME)
    if key_type not in KEY_TYPES:
        errors["key_type"] = c.t("ak_type_missing")
    if errors:
        return _form(c, service, 400, errors, name, key_type)
    _, key = await issue_key(c.deps, service["id"], name, key_type)
    return c.render(200, "api_key_created.html", service=service, section="api_keys",
                    name=name, key=key)  # fmt: skip


@service_page("manage_api_keys")
async def revoke_key(c: Ctx, service: Row) -> Response:
    try:
        key_id = uuid.UUID(c.request.path_params["key_id"])
    except ValueError:
        return not_found(c)
    if not await c.deps.store.keys.revoke(service["id"], key_id):
        return not_found(c)
    c.deps.service_changed(service["id"])
    return c.redirect(f"{PREFIX}/services/{service['id']}/api-keys?revoked={key_id}")

"""A service's API keys: listing and revoking (the ``manage_api_keys`` role)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from engine.api.http import Response
from engine.api.router import Router
from engine.console.app import PREFIX, Ctx, not_found, service_page

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", f"{PREFIX}/services/{{service_id}}/api-keys", wrap(api_keys))
    r.add("POST", f"{PREFIX}/services/{{service_id}}/api-keys/{{key_id}}/revoke",
          wrap(revoke_key))  # fmt: skip


@service_page("manage_api_keys")
async def api_keys(c: Ctx, service: Row) -> Response:
    keys = await c.deps.store.keys.for_service(service["id"])
    revoked = c.request.query().get("revoked", [""])[0]
    done = next((k["name"] for k in keys if str(k["id"]) == revoked and k["expiry_date"]), None)
    return c.render(200, "api_keys.html", service=service, section="api_keys", keys=keys,
                    done=done)  # fmt: skip


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

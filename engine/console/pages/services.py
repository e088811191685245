"""The user's services and a service's dashboard (sent, delivered and failed per day and
channel from the statistics table and the live rows; use against the limits).

Rules:
- A user sees the services they are a member of (a platform admin sees every service but
  the engine's own system service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.api.http import Response
from engine.api.router import Router
from engine.console.app import PREFIX, Ctx, service_page, signed_in
from engine.domain import console_usage
from engine.domain.team_mail import SYSTEM_SERVICE_ID

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", f"{PREFIX}/services", wrap(services))
    r.add("GET", f"{PREFIX}/services/{{service_id}}", wrap(dashboard))


@signed_in
async def services(c: Ctx) -> Response:
    assert c.user is not None
    rows = await c.deps.store.console.services_of(
        c.user["user_id"], c.user["platform_admin"], SYSTEM_SERVICE_ID
    )
    return c.render(200, "services.html", services=rows)


@service_page("view")
async def dashboard(c: Ctx, service: Row) -> Response:
    today = c.now.date()
    start, end = console_usage.window(today)
    rows = await c.deps.store.retention.usage(service["id"], start, end)
    return c.render(200, "dashboard.html", service=service, section="dashboard",
                    days=console_usage.days(rows, today),
                    limits=console_usage.limits(rows, today, service))  # fmt: skip

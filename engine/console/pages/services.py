"""The user's services and a service's dashboard (sent, delivered and failed per day and
channel from the statistics table and the live rows; use against the limits).

Rules:
- A user sees the services they are a member of (a platform admin sees every service but
  the engine's own system service).
- The dashboard's "today" is the service's local day in its time zone (its own, else the
  deployment's: the registry's), the day its daily limits count (``engine.actors.service``
  ``today``): counted from the live rows since its local midnight. The 7 days are UTC days
  (the statistics table's).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from engine.api.http import Response
from engine.api.router import Router
from engine.console.app import PREFIX, Ctx, service_page, signed_in
from engine.domain import console_usage
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from engine.domain.timezones import day_start, local_date

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
    bundle = await c.deps.registry.get(service["id"])
    zone = bundle.service.time_zone if bundle is not None else "UTC"
    today = local_date(c.now, zone)  # the daily limit's day: the service's local one
    utc_today = c.now.astimezone(dt.UTC).date()
    start, _ = console_usage.window(min(today, utc_today))
    rows = await c.deps.store.retention.usage(service["id"], start, max(today, utc_today))
    since = day_start(today, zone)
    counts = await c.deps.store.counts.sent(service["id"], day_start=since, year_start=since)
    today_used = {r.notification_type: r.today_messages for r in counts}
    return c.render(200, "dashboard.html", service=service, section="dashboard",
                    days=console_usage.days(rows, utc_today), zone=zone,
                    limits=console_usage.limits(rows, today, service, today_used))  # fmt: skip

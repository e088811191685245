"""A service's templates (the ``view`` role lists them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.api.http import Response
from engine.api.router import Router
from engine.console.app import PREFIX, Ctx, service_page

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", f"{PREFIX}/services/{{service_id}}/templates", wrap(templates))


@service_page("view")
async def templates(c: Ctx, service: Row) -> Response:
    rows = await c.deps.store.templates.for_service(service["id"])
    kept = sorted((r for r in rows if not r["archived"]), key=lambda r: r["name"].lower())
    return c.render(200, "templates.html", service=service, section="templates",
                    templates=kept)  # fmt: skip

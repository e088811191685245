"""A service's templates, read: the list, one template, its version history and any old
version (the ``view`` role). Writing is ``templates_edit``, the preview
``templates_preview``.

Rules:
- A template is found by its id within the service of the page: another service's
  template is 404, as an unknown one is.
- The page says which languages a template has (``template_edits.languages``: English,
  and French when it has a French version) and lists its placeholders.
- The history lists every version (``template_versions``: one row per save, the API's
  and the console's alike), who saved it, when, and which fields it changed from the
  version before (``template_edits.changed``); any version can be shown read-only.
- Links to write (edit, archive) are shown to the ``manage_templates`` role only; the
  writing pages check the role themselves.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from engine.api.http import Response
from engine.api.router import Router
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.domain import console, template_edits
from engine.domain import template_categories as tc
from engine.services import Template

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

BASE = f"{PREFIX}/services/{{service_id}}/templates"


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", BASE, wrap(templates))
    r.add("GET", f"{BASE}/{{template_id}}", wrap(show))
    r.add("GET", f"{BASE}/{{template_id}}/versions", wrap(versions))
    r.add("GET", f"{BASE}/{{template_id}}/versions/{{version}}", wrap(show_version))


async def may_manage(c: Ctx, service: Row) -> bool:
    assert c.user is not None
    roles = await c.deps.store.console.roles(c.user["user_id"], service["id"])
    return console.has_role(roles, c.user["platform_admin"], "manage_templates")


async def load(c: Ctx, service: Row) -> Template | None:
    """The page's template (its current version) if it is the service's."""
    try:
        template_id = uuid.UUID(c.request.path_params["template_id"])
    except ValueError:
        return None
    row = await c.deps.store.templates.current(template_id, service["id"])
    return None if row is None else Template(**dict(row))


def describe(t: Ctx, fields: Any) -> dict[str, Any]:
    """What a page shows of a version beside its text: category, priority, languages,
    placeholders."""
    category = tc.find(fields["template_category_id"])
    return {
        "category": (category.name_en if t.lang == "en" else category.name_fr)
        if category else None,
        "languages": template_edits.languages(fields["content_fr"]),
        "placeholders": template_edits.placeholder_names(
            fields["subject"], fields["content"], fields["subject_fr"], fields["content_fr"]
        ),
    }  # fmt: skip


@service_page("view")
async def templates(c: Ctx, service: Row) -> Response:
    rows = await c.deps.store.templates.for_service(service["id"])
    kept = sorted((r for r in rows if not r["archived"]), key=lambda r: r["name"].lower())
    archived = c.request.query().get("archived", [""])[0]
    done = next((r["name"] for r in rows if str(r["id"]) == archived and r["archived"]), None)
    return c.render(200, "templates.html", service=service, section="templates",
                    templates=kept, manage=await may_manage(c, service),
                    done=done)  # fmt: skip


@service_page("view")
async def show(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    if template is None:
        return not_found(c)
    saved = c.request.query().get("saved", [""])[0]
    fields = {"template_category_id": template.template_category_id,
              "subject": template.subject, "content": template.content,
              "subject_fr": template.subject_fr, "content_fr": template.content_fr}  # fmt: skip
    return c.render(200, "template_show.html", service=service, section="templates",
                    tpl=template, manage=await may_manage(c, service),
                    saved=saved.isdigit() and int(saved) == template.version,
                    process_type=template.process_type,
                    **describe(c, fields))  # fmt: skip


@service_page("view")
async def versions(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    if template is None:
        return not_found(c)
    rows = await c.deps.store.templates.versions(template.id, service["id"])
    authors = {a for a in map(template_edits.console_author, (r["created_by"] for r in rows)) if a}
    names = await c.deps.store.console.names(sorted(authors)) if authors else {}
    history = []
    before: dict[str, Any] | None = None
    for row in map(dict, rows):
        who = template_edits.console_author(row["created_by"])
        history.append(
            {
                "row": row,
                "changed": template_edits.changed(before, row),
                "by": names.get(who, row["created_by"]) if who else row["created_by"],
            }
        )
        before = row
    history.reverse()  # newest first
    return c.render(200, "template_versions.html", service=service, section="templates",
                    tpl=template, history=history)  # fmt: skip


@service_page("view")
async def show_version(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    number = c.request.path_params["version"]
    if template is None or not number.isdigit():
        return not_found(c)
    row = await c.deps.store.templates.version(template.id, int(number))
    if row is None or row["service_id"] != service["id"]:
        return not_found(c)
    return c.render(200, "template_version.html", service=service, section="templates",
                    tpl=template, v=row, **describe(c, row))  # fmt: skip

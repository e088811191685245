"""Writing a service's templates: create, edit (the French version beside the English) and
archive (the ``manage_templates`` role; a viewer gets 403).

Rules:
- The rules of a version are ``engine.domain.template_edits.problems`` (the admin API's
  and ``/v2/manage-template``'s limits); the category sets the process type, as the API's
  does. A form that breaks a rule comes back (400) with an error summary linking to each
  field and the message beside the field, in the visitor's language.
- Every save goes through ``store.templates.save`` (a new version with its history row);
  an edit names the version it started from, so a save that another writer overtook is
  refused (409) with the form as typed, not silently written over the other's version.
- Archiving asks first (a confirmation page), then writes the next version, archived
  (``store.templates.archive``), as the API's DELETE does.
- After any write the service's cached bundle is dropped (``service_changed``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from engine.api.http import Response
from engine.api.router import Router
from engine.console import web
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.console.pages.templates import BASE, load
from engine.domain import template_categories as tc
from engine.domain import template_edits
from engine.services import Template

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", f"{BASE}/new/{{template_type}}", wrap(new_form))
    r.add("POST", f"{BASE}/new/{{template_type}}", wrap(create))
    r.add("GET", f"{BASE}/{{template_id}}/edit", wrap(edit_form))
    r.add("POST", f"{BASE}/{{template_id}}/edit", wrap(update))
    r.add("GET", f"{BASE}/{{template_id}}/archive", wrap(archive_form))
    r.add("POST", f"{BASE}/{{template_id}}/archive", wrap(archive))


def _categories(c: Ctx) -> list[tuple[str, str]]:
    return [(str(k.id), k.name_en if c.lang == "en" else k.name_fr) for k in tc.VISIBLE]


def _form(
    c: Ctx, status: int, service: Row, kind: str, values: dict[str, Any],
    template: Template | None, problems: list[tuple[str, str]], extra: str | None = None,
) -> Response:  # fmt: skip
    errors = [(field, c.t(f"tpl_err_{code}")) for field, code in problems]
    field_errors = dict(reversed(errors))  # a field shows its first error
    if extra:
        errors.append(("name", extra))
    return c.render(status, "template_form.html", service=service, section="templates",
                    kind=kind, values=values, tpl=template, errors=errors,
                    field_errors=field_errors,
                    categories=_categories(c))  # fmt: skip


def _values(template: Template) -> dict[str, Any]:
    category = template.template_category_id
    return {"name": template.name, "subject": template.subject or "",
            "content": template.content, "subject_fr": template.subject_fr or "",
            "content_fr": template.content_fr or "",
            "template_category_id": str(category) if category else "",
            "version": str(template.version)}  # fmt: skip


async def _save(
    c: Ctx, service: Row, draft: template_edits.Draft, template_id: uuid.UUID, version: int,
    expected: int | None,
) -> bool:  # fmt: skip
    assert c.user is not None
    category = template_edits.category_of(draft)
    assert category is not None  # problems() found none missing
    kind = draft.template_type
    saved = await c.deps.store.templates.save(
        template_id, service["id"], version=version, name=draft.name, template_type=kind,
        subject=draft.subject, content=draft.content,
        process_type=category.process_type(kind),
        created_by=template_edits.author(c.user["user_id"]),
        subject_fr=draft.subject_fr if draft.content_fr else None,
        content_fr=draft.content_fr, template_category_id=category.id, expected=expected,
    )  # fmt: skip
    if saved:
        c.deps.service_changed(service["id"])
    return saved


@service_page("manage_templates")
async def new_form(c: Ctx, service: Row) -> Response:
    kind = c.request.path_params["template_type"]
    if kind not in template_edits.TYPES:
        return not_found(c)
    return _form(c, 200, service, kind, {}, None, [])


@service_page("manage_templates")
async def create(c: Ctx, service: Row) -> Response:
    kind = c.request.path_params["template_type"]
    if kind not in template_edits.TYPES:
        return not_found(c)
    fields = web.form(c.request)
    draft = template_edits.draft_from_form(fields, kind)
    problems = template_edits.problems(draft)
    if problems:
        return _form(c, 400, service, kind, fields, None, problems)
    template_id = uuid.uuid4()
    await _save(c, service, draft, template_id, 1, None)
    return c.redirect(f"{PREFIX}/services/{service['id']}/templates/{template_id}?saved=1")


@service_page("manage_templates")
async def edit_form(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    if template is None or template.archived:
        return not_found(c)
    return _form(c, 200, service, template.template_type, _values(template), template, [])


@service_page("manage_templates")
async def update(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    if template is None or template.archived:
        return not_found(c)
    fields = web.form(c.request)
    kind = template.template_type
    draft = template_edits.draft_from_form(fields, kind)
    problems = template_edits.problems(draft)
    if problems:
        return _form(c, 400, service, kind, fields, template, problems)
    started = fields.get("version", "")
    expected = int(started) if started.isdigit() else template.version
    if expected != template.version or not await _save(
        c, service, draft, template.id, expected + 1, expected
    ):
        current = await load(c, service)
        fields = {**fields, "version": str(current.version if current else expected)}
        return _form(c, 409, service, kind, fields, template, [], c.t("tpl_err_changed"))
    return c.redirect(
        f"{PREFIX}/services/{service['id']}/templates/{template.id}?saved={expected + 1}"
    )


@service_page("manage_templates")
async def archive_form(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    if template is None or template.archived:
        return not_found(c)
    return c.render(200, "template_archive.html", service=service, section="templates",
                    tpl=template)  # fmt: skip


@service_page("manage_templates")
async def archive(c: Ctx, service: Row) -> Response:
    assert c.user is not None
    template = await load(c, service)
    if template is None or template.archived:
        return not_found(c)
    done = await c.deps.store.templates.archive(
        template.id, service["id"], version=template.version + 1,
        created_by=template_edits.author(c.user["user_id"]),
    )  # fmt: skip
    if not done:  # another write came first: ask again, on the version as it is now
        return c.redirect(f"{PREFIX}/services/{service['id']}/templates/{template.id}/archive")
    c.deps.service_changed(service["id"])
    return c.redirect(f"{PREFIX}/services/{service['id']}/templates?archived={template.id}")

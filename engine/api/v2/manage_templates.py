"""Templates written through the API: GC Notify's ``/v2/manage-template`` (issue 24).

    POST   /v2/manage-template                          create (201)
    GET    /v2/manage-template/template-categories      the categories a template may name
    GET    /v2/manage-template/{id}                     the current version
    PATCH  /v2/manage-template/{id}                     the next version (200)
    DELETE /v2/manage-template/{id}                     archive it, as the next version (200)

Rules (GC's code, notification-api ``app/v2/manage_template``, where it and GC's
documentation differ; the test says which):
- Every call needs a key holding ``manage_templates`` (any key type), else 403
  ``ForbiddenError`` "This API key does not have permission to manage templates.",
  before anything else is looked at. Send keys pay nothing for it: the permissions are
  read only here and in ``reports``.
- Bodies are held to GC's JSON schemas: POST needs ``name``, ``template_type`` (sms or
  email), ``content`` and ``template_category_id``, and ``subject`` for email; PATCH takes
  any of ``name``, ``content``, ``subject``, ``template_category_id``,
  ``parent_folder_id``. Nothing else (jsonschema's messages). Our one addition: the French
  version, ``content_fr`` and ``subject_fr`` (issue 22; shown as ``body_fr`` and
  ``subject_fr`` as GET /v2/template shows them; ``content_fr: null`` removes it).
- A category problem answers GC's own error, with the category list in the body:
  ``TemplateCategoryValidationError`` ("template_category_id is a required property",
  "template_category_id must be a valid UUID") or ``TemplateCategoryNotFoundError``
  ("template_category_id not found"). The category sets the process type (its priority).
- There are no template folders here: any ``parent_folder_id`` is "parent_folder_id not
  found", as GC answers for a folder the service does not have; ``null`` is accepted.
- Content and name past GC's limits (``engine.domain.template_categories``) are 400.
- Every write is a new version with its history row (GC versions archiving too); two
  concurrent writes cannot take the same version (``Templates.save(expected=)``). An
  archived template cannot be archived again: "Template is already archived.".
- Reads come from the database, not the cached bundle: a management call must see the
  write another process made a moment ago.
- ``created_by`` is the name of the key that wrote the version (GC shows its user's email
  address; nobody signs in here).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import ApiError, BadRequestError, ErrorItem, NotFoundError, ValidationError
from engine.api.http import Request, Response
from engine.api.limits import check_body
from engine.api.v2.schema import is_uuid, schema_errors
from engine.api.v2.templates import _template_id
from engine.domain import template_categories as tc
from engine.domain.timestamps import format_ts
from engine.services import Template

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

MANAGE_TEMPLATES = "manage_templates"
NO_PERMISSION = "This API key does not have permission to manage templates."
CATEGORY_REQUIRED = "template_category_id is a required property"
CATEGORY_INVALID = "template_category_id must be a valid UUID"
CATEGORY_NOT_FOUND = "template_category_id not found"
ALREADY_ARCHIVED = "Template is already archived."
FOLDER_NOT_FOUND = "parent_folder_id not found"
_WRITE_ATTEMPTS = 5

_STRING = (("string",), False)
POST_SPEC = {
    "name": (("string",), True),
    "template_type": (("string",), True),
    "content": (("string",), True),
    "subject": _STRING,
    "template_category_id": (("string",), True),
    "parent_folder_id": _STRING,
    "content_fr": (("string", "null"), False),
    "subject_fr": (("string", "null"), False),
}
PATCH_SPEC = {
    "name": _STRING,
    "content": _STRING,
    "subject": _STRING,
    "template_category_id": _STRING,
    "parent_folder_id": (("string", "null"), False),
    "content_fr": (("string", "null"), False),
    "subject_fr": (("string", "null"), False),
}
_encode = msgspec.json.Encoder().encode


class ForbiddenError(ApiError):
    wire_name = "ForbiddenError"
    status_code = 403


class CategoryItem(msgspec.Struct, frozen=True):
    template_category_id: str
    name: str


class CategoryList(msgspec.Struct, frozen=True):
    template_categories: list[CategoryItem]


class CategoryErrorBody(msgspec.Struct, frozen=True):
    status_code: int
    errors: list[ErrorItem]
    template_categories: list[CategoryItem]


def _categories() -> list[CategoryItem]:
    return [CategoryItem(str(c.id), c.name_en) for c in tc.VISIBLE]


class CategoryError(ApiError):
    """GC's category refusal: the envelope and, beside it, the categories to choose from."""

    def body(self) -> bytes:
        return _encode(CategoryErrorBody(400, self.items(), _categories()))


class ManagedTemplate(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    service_id: str
    service_name: str
    name: str
    type: str
    created_at: str | None
    updated_at: str | None
    created_by: str
    version: int
    body: str
    subject: str | None
    postage: None
    template_category_id: str | None
    template_category_name: str | None
    folder_id: None
    archived: bool


class BilingualManagedTemplate(ManagedTemplate, frozen=True, kw_only=True):
    body_fr: str
    subject_fr: str | None


def serialize(template: Template, service_name: str) -> ManagedTemplate:
    category = tc.find(template.template_category_id)
    fields: dict[str, Any] = {
        "id": str(template.id),
        "service_id": str(template.service_id),
        "service_name": service_name,
        "name": template.name,
        "type": template.template_type,
        "created_at": format_ts(template.created_at),
        "updated_at": format_ts(template.updated_at),
        "created_by": template.created_by,
        "version": template.version,
        "body": template.content,
        "subject": template.subject if template.template_type != "sms" else None,
        "postage": None,
        "template_category_id": str(category.id) if category else None,
        "template_category_name": category.name_en if category else None,
        "folder_id": None,
        "archived": template.archived,
    }
    if template.content_fr is None:
        return ManagedTemplate(**fields)
    email = template.template_type == "email"
    return BilingualManagedTemplate(
        **fields,
        body_fr=template.content_fr,
        subject_fr=(template.subject_fr or template.subject) if email else None,
    )


def require(ctx: AuthContext, permission: str, message: str) -> None:
    if permission not in ctx.key.permissions:
        raise ForbiddenError(message)


def _body(request: Request, spec: dict[str, tuple[tuple[str, ...], bool]]) -> dict[str, Any]:
    check_body(request.body)
    try:
        body = msgspec.json.decode(request.body or b"{}")
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"Error decoding arguments: {exc}") from None
    errors = schema_errors(body, spec)
    if isinstance(body, dict):
        kind = body.get("template_type")
        if "template_type" in spec and isinstance(kind, str) and kind not in ("sms", "email"):
            errors.append(f"template_type {kind} is not one of [sms, email]")
        if "template_type" in spec and kind == "email" and "subject" not in body:
            errors.append("subject is a required property")
        folder = body.get("parent_folder_id")
        if isinstance(folder, str) and not is_uuid(folder):
            errors.append("parent_folder_id is not a valid UUID")
        category = body.get("template_category_id")
        if "template_category_id" not in body and spec["template_category_id"][1]:
            raise CategoryError(CATEGORY_REQUIRED, wire_name="TemplateCategoryValidationError")
        valid = isinstance(category, str) and is_uuid(category)
        if "template_category_id" in body and not valid:
            raise CategoryError(CATEGORY_INVALID, wire_name="TemplateCategoryValidationError")
    if errors:
        raise ValidationError(errors)
    assert isinstance(body, dict)
    return body


def _category(body: dict[str, Any]) -> tc.TemplateCategory | None:
    if "template_category_id" not in body:
        return None
    category = tc.find(uuid.UUID(body["template_category_id"]))
    if category is None:
        raise CategoryError(CATEGORY_NOT_FOUND, wire_name="TemplateCategoryNotFoundError")
    return category


def _check_limits(template_type: str, name: str, content: str) -> None:
    limit = tc.content_too_long(template_type, content)
    if limit is not None:
        raise BadRequestError(f"Content has a character count greater than the limit of {limit}")
    if tc.name_too_long(name):
        raise BadRequestError(
            f"Template name must be less than {tc.TEMPLATE_NAME_CHAR_COUNT_LIMIT} characters"
        )


async def _current(deps: ApiDeps, ctx: AuthContext, template_id: uuid.UUID) -> Template:
    row = await deps.store.templates.current(template_id, ctx.bundle.service.id)
    if row is None:
        raise NotFoundError()
    return Template(**dict(row))


def _answer(status: int, template: Template, ctx: AuthContext) -> Response:
    return Response(status, _encode(serialize(template, ctx.bundle.service.name)))


async def get_categories(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_TEMPLATES, NO_PERMISSION)
    return Response(200, _encode(CategoryList(_categories())))


async def get_template(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_TEMPLATES, NO_PERMISSION)
    template = await _current(deps, ctx, _template_id(request))
    return _answer(200, template, ctx)


async def create_template(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_TEMPLATES, NO_PERMISSION)
    body = _body(request, POST_SPEC)
    category = _category(body)
    assert category is not None  # required by the schema
    if body.get("parent_folder_id") is not None:
        raise BadRequestError(FOLDER_NOT_FOUND)
    kind: str = body["template_type"]
    _check_limits(kind, body["name"], body["content"])
    if body.get("content_fr") is not None:
        _check_limits(kind, body["name"], body["content_fr"])
    service_id = ctx.bundle.service.id
    template_id = uuid.uuid4()
    email = kind == "email"
    await deps.store.templates.save(
        template_id, service_id, version=1, name=body["name"], template_type=kind,
        subject=body.get("subject") if email else None, content=body["content"],
        process_type=category.process_type(kind), created_by=ctx.key.name,
        subject_fr=body.get("subject_fr") if email else None,
        content_fr=body.get("content_fr"), template_category_id=category.id,
    )  # fmt: skip
    deps.service_changed(service_id)
    return _answer(201, await _current(deps, ctx, template_id), ctx)


async def update_template(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_TEMPLATES, NO_PERMISSION)
    template_id = _template_id(request)
    body = _body(request, PATCH_SPEC)
    template = await _current(deps, ctx, template_id)
    category = _category(body)
    if body.get("parent_folder_id") is not None:
        raise BadRequestError(FOLDER_NOT_FOUND)
    if not body:  # GC answers a 500 (nothing to version); we show the template unchanged
        return _answer(200, template, ctx)
    service_id = ctx.bundle.service.id
    for _ in range(_WRITE_ATTEMPTS):
        kind = template.template_type
        name = body.get("name", template.name)
        content = body.get("content", template.content)
        content_fr = body.get("content_fr", template.content_fr)
        subject_fr = body.get("subject_fr", template.subject_fr)
        _check_limits(kind, name, content)
        if content_fr is not None:
            _check_limits(kind, name, content_fr)
        chosen = category or tc.find(template.template_category_id)
        email = kind == "email"
        saved = await deps.store.templates.save(
            template_id, service_id, version=template.version + 1, name=name,
            template_type=kind,
            subject=body.get("subject", template.subject) if email else None, content=content,
            process_type=chosen.process_type(kind) if chosen else template.process_type,
            created_by=ctx.key.name, subject_fr=subject_fr if email and content_fr else None,
            content_fr=content_fr, template_category_id=chosen.id if chosen else None,
            expected=template.version,
        )  # fmt: skip
        if saved:
            break
        template = await _current(deps, ctx, template_id)  # another write came first
    else:
        raise ApiError("The template changed while it was written; retry", status_code=409)
    deps.service_changed(service_id)
    return _answer(200, await _current(deps, ctx, template_id), ctx)


async def archive_template(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_TEMPLATES, NO_PERMISSION)
    template_id = _template_id(request)
    service_id = ctx.bundle.service.id
    for _ in range(_WRITE_ATTEMPTS):
        template = await _current(deps, ctx, template_id)
        if template.archived:
            raise BadRequestError(ALREADY_ARCHIVED)
        version = template.version + 1
        if await deps.store.templates.archive(
            template_id, service_id, version=version, created_by=ctx.key.name
        ):
            break
    else:
        raise ApiError("The template changed while it was written; retry", status_code=409)
    deps.service_changed(service_id)
    return _answer(200, await _current(deps, ctx, template_id), ctx)

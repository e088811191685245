"""Template endpoints (contract section 1.8).

    GET  /v2/template/{id}                  the current version
    GET  /v2/template/{id}/version/{v}      any published version (v >= 1)
    GET  /v2/templates[?type=sms|email]     every template of the service, archived excluded
    POST /v2/template/{id}/preview          {"personalisation": {...}} -> rendered content

Rules:
- A template is visible only to its own service; anything else is 404 NoResultFound.
- ``personalisation`` lists every placeholder of the subject and body (conditionals by
  their name), each ``{"required": true}``, names as first written.
- A template with a French version (issue 22) shows it as ``body_fr`` and
  ``subject_fr`` after GC's fields (absent otherwise: existing clients see what they saw).
- Preview renders exactly what a send would (same compiled version, document language
  and branding: ``engine.domain.branding``; ``render_as_sent``, which the console's preview
  uses too); an optional ``language`` picks the version
  as a send's does. ``body`` is the plain text; for email ``html`` is the HTML document
  and ``subject`` the filled subject; for SMS ``html`` and ``subject`` are null and the body
  has no service-name prefix (GOV.UK's preview shows the content only).
- Missing values -> 400 ``Missing personalisation: a, b``.
Reads come from the cached service bundle; versions other than the current one are
looked up once and cached by the registry.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import BadRequestError, NotFoundError, ValidationError
from engine.api.http import Request, Response
from engine.api.limits import int_param, query_args
from engine.api.v2.post_notification import LANGUAGES
from engine.api.v2.schema import decode_or_explain
from engine.domain.templates import (
    CompiledSmsTemplate,
    MissingPersonalisation,
    RenderedEmail,
    RenderedSms,
    choose_language,
    placeholders,
)
from engine.domain.timestamps import format_ts
from engine.services import email_frame

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps
    from engine.services import ServiceBundle, Template

TEMPLATE_TYPES = ("sms", "email", "letter")


class Required(msgspec.Struct, frozen=True):
    required: bool = True


class TemplateBody(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    created_at: str | None
    updated_at: str | None
    created_by: str
    version: int
    body: str
    subject: str | None
    name: str
    personalisation: dict[str, Required]
    postage: None = None


class BilingualTemplateBody(TemplateBody, frozen=True, kw_only=True):
    """A template with a French version: the same fields, and the French ones after."""

    body_fr: str
    subject_fr: str | None


class TemplateList(msgspec.Struct, frozen=True):
    templates: list[TemplateBody]


class PreviewRequest(msgspec.Struct, kw_only=True):
    personalisation: dict[str, Any] | None = None
    language: str | None = None


class PreviewResponse(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    version: int
    body: str
    html: str | None
    subject: str | None
    postage: None = None


PREVIEW_SPEC = {
    "personalisation": (("object", "null"), False),
    "language": (("string", "null"), False),
}
_preview_decoder = msgspec.json.Decoder(PreviewRequest)
_encode = msgspec.json.Encoder().encode


def personalisation_of(template: Template) -> dict[str, Required]:
    """Every placeholder of subject then body, deduplicated as Notify matches them."""
    names: dict[str, str] = {}
    texts = [template.subject or "", template.content]
    if template.content_fr is not None:
        texts += [template.subject_fr or "", template.content_fr]
    for text in texts:
        for name in placeholders(text):
            names.setdefault("".join(name.split()).lower(), name)
    return {name: Required() for name in names.values()}


def serialize(template: Template) -> TemplateBody:
    """A template as GC shows it; one with a French version adds ``body_fr`` and
    ``subject_fr`` (issue 22), so a single-language template's JSON is unchanged."""
    fields: dict[str, Any] = {
        "id": str(template.id),
        "type": template.template_type,
        "created_at": format_ts(template.created_at),
        "updated_at": format_ts(template.updated_at),
        "created_by": template.created_by,
        "version": template.version,
        "body": template.content,
        "subject": template.subject if template.template_type == "email" else None,
        "name": template.name,
        "personalisation": personalisation_of(template),
    }
    if template.content_fr is None:
        return TemplateBody(**fields)
    subject_fr = template.subject_fr or template.subject
    return BilingualTemplateBody(
        **fields,
        body_fr=template.content_fr,
        subject_fr=subject_fr if template.template_type == "email" else None,
    )


def _template_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["template_id"])
    except ValueError:
        raise ValidationError(["id is not a valid UUID"]) from None


def _current(ctx: AuthContext, template_id: uuid.UUID) -> Template:
    template = ctx.bundle.templates.get(template_id)
    if template is None:
        raise NotFoundError()
    return template


async def get_template(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    template = _current(ctx, _template_id(request))
    return Response(200, _encode(serialize(template)))


async def get_template_version(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    template_id = _template_id(request)
    # An int32 column: 4294967296 is refused here, not by the query (a 500).
    version = int_param(request.path_params["version"], "version", minimum=1)
    current = _current(ctx, template_id)
    if current.version == version:
        return Response(200, _encode(serialize(current)))
    template = await deps.registry.template_version(template_id, version)
    if template is None or template.service_id != ctx.bundle.service.id:
        raise NotFoundError()
    return Response(200, _encode(serialize(template)))


async def list_templates(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    query = query_args(request)
    errors: list[str] = []
    unexpected = [k for k in query if k != "type"]
    if unexpected:
        verb = "was" if len(unexpected) == 1 else "were"
        errors.append(
            f"Additional properties are not allowed ({', '.join(unexpected)} {verb} unexpected)"
        )
    wanted = query.get("type", [None])[0]
    if wanted is not None and wanted not in TEMPLATE_TYPES:
        errors.append(f"type {wanted} is not one of [{', '.join(TEMPLATE_TYPES)}]")
    if errors:
        raise ValidationError(errors)
    templates = sorted(
        (
            t
            for t in ctx.bundle.templates.values()
            if not t.archived and (wanted is None or t.template_type == wanted)
        ),
        key=lambda t: (t.name, t.template_type, str(t.id)),
    )
    return Response(200, _encode(TemplateList([serialize(t) for t in templates])))


async def preview(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    template = _current(ctx, _template_id(request))
    # GOV.UK accepts an empty body: it means no personalisation.
    body: PreviewRequest = (
        decode_or_explain(request.body, _preview_decoder, PREVIEW_SPEC)
        if request.body.strip()
        else PreviewRequest()
    )
    values = body.personalisation or {}
    if body.language is not None and body.language not in LANGUAGES:
        raise ValidationError([f"language {body.language} is not one of [en, fr]"])
    bundle = ctx.bundle
    version, _ = choose_language(
        template.has_french, body.language, bundle.service.default_language
    )
    try:
        if template.template_type == "email":
            email = render_as_sent(deps, bundle, template, values, body.language)
            assert isinstance(email, RenderedEmail)
            result = PreviewResponse(
                id=str(template.id),
                type=template.template_type,
                version=template.version,
                body=email.text,
                html=email.html,
                subject=email.subject,
            )
        else:
            # Built per call (previews are rare): the engine's cached SMS template may
            # carry the service-name prefix, which a preview does not show.
            content = template.content_fr if version == "fr" else template.content
            sms = CompiledSmsTemplate(content or template.content).render(values)
            result = PreviewResponse(
                id=str(template.id),
                type=template.template_type,
                version=template.version,
                body=sms.body,
                html=None,
                subject=None,
            )
    except MissingPersonalisation as exc:
        raise BadRequestError(str(exc)) from None
    return Response(200, _encode(result))


def render_as_sent(
    deps: ApiDeps,
    bundle: ServiceBundle,
    template: Template,
    values: dict[str, Any],
    language: str | None = None,
) -> RenderedEmail | RenderedSms:
    """``template`` rendered as a send would render it: the language version a send
    asking for ``language`` gets (``choose_language``), the engine's compiled form of it
    (``TemplateCache``: an SMS with the service-name prefix a send adds), an email in its
    document language and the service's branding. Raises ``MissingPersonalisation``."""
    version, lang = choose_language(template.has_french, language, bundle.service.default_language)
    compiled = deps.template_cache.compiled(template, bundle, version)
    if template.template_type == "email":
        frame = email_frame(bundle, deps.settings.asset_base)
        rendered: RenderedEmail = compiled.render(values, lang=lang, frame=frame)
        return rendered
    sms: RenderedSms = compiled.render(values)
    return sms

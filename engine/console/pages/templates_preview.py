"""A template's preview, rendered by the code that sends (the ``view`` role: it changes
nothing).

Rules:
- One field per placeholder of the template (its English and French texts), filled with
  example values the visitor types; the form posts (no script: the CSP forbids any).
- Rendering is ``engine.api.v2.templates.render_as_sent``: the engine's compiled version
  (the language version a send asking for that language gets), an email in its document
  language with the service's branding, an SMS with the service-name prefix a send adds,
  counted in characters and message parts as billed.
- An empty field is a missing value: the render's ``MissingPersonalisation`` comes back as
  an error summary linking to each field (400).
- The email is shown as its own HTML document (``/preview/email``, the values in its query:
  example values, not recipients' data) in a sandboxed iframe. Only the preview page may
  frame it (``frame-src 'self'``), and only our pages may be its parent
  (``frame-ancestors 'self'``); the document itself runs nothing (CSP ``sandbox``, no
  script) and may use the inline styles emails are written with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from engine.api.http import Response
from engine.api.router import Router
from engine.api.v2.templates import render_as_sent
from engine.console import web
from engine.console.app import Ctx, not_found, service_page
from engine.console.pages.templates import BASE, load
from engine.domain import template_edits
from engine.domain.placeholders import MissingPersonalisation, normalise_key
from engine.domain.templates import RenderedEmail
from engine.services import Template

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

PAGE_CSP = web.CSP.replace(b"default-src 'none';", b"default-src 'none'; frame-src 'self';")


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", f"{BASE}/{{template_id}}/preview", wrap(preview_form))
    r.add("POST", f"{BASE}/{{template_id}}/preview", wrap(preview))
    r.add("GET", f"{BASE}/{{template_id}}/preview/email", wrap(email_document))


def names_of(template: Template) -> list[str]:
    return template_edits.placeholder_names(
        template.subject, template.content, template.subject_fr, template.content_fr
    )


def sample_values(template: Template, fields: dict[str, str]) -> dict[str, object]:
    """The example values typed (``ph_0``, ``ph_1``... in placeholder order); an empty one
    is left out: missing, as a send would find it."""
    return {name: fields[f"ph_{i}"] for i, name in enumerate(names_of(template))
            if fields.get(f"ph_{i}", "").strip()}  # fmt: skip


def _with_policy(response: Response, policy: bytes, frame_options: bytes | None) -> Response:
    kept = [(k, v) for k, v in response.headers
            if k not in (b"content-security-policy", b"x-frame-options")]  # fmt: skip
    kept.append((b"content-security-policy", policy))
    if frame_options:
        kept.append((b"x-frame-options", frame_options))
    response.headers = kept
    return response


def _page(c: Ctx, status: int, service: Row, template: Template, fields: dict[str, str],
          language: str, errors: list[tuple[str, str]],
          result: dict[str, Any] | None) -> Response:  # fmt: skip
    names = names_of(template)
    response = c.render(status, "template_preview.html", service=service,
                        section="templates", tpl=template, names=names, fields=fields,
                        values=fields, language=language, errors=errors, field_errors=dict(errors),
                        result=result)  # fmt: skip
    return _with_policy(response, PAGE_CSP, None)


def _language(template: Template, fields: dict[str, str], fallback: str) -> str:
    asked = fields.get("language", "")
    if template.has_french and asked in ("en", "fr"):
        return asked
    return fallback


@service_page("view")
async def preview_form(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    if template is None or template.archived:
        return not_found(c)
    fields = {"language": c.lang}
    return _page(c, 200, service, template, fields, _language(template, fields, "en"), [],
                 None)  # fmt: skip


@service_page("view")
async def preview(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    bundle = await c.deps.registry.get(service["id"])
    if template is None or template.archived or bundle is None:
        return not_found(c)
    fields = web.form(c.request)
    language = _language(template, fields, bundle.service.default_language)
    values = sample_values(template, fields)
    try:
        rendered = render_as_sent(c.deps, bundle, template, values, language)
    except MissingPersonalisation as exc:
        index = {normalise_key(n): i for i, n in enumerate(names_of(template))}
        errors = [(f"ph_{index[normalise_key(n)]}", c.t("tpl_err_value_missing", name=n))
                  for n in exc.names if normalise_key(n) in index]  # fmt: skip
        return _page(c, 400, service, template, fields, language, errors, None)
    result: dict[str, Any]
    if isinstance(rendered, RenderedEmail):
        query = {"version": str(template.version), "language": language,
                 **{k: v for k, v in fields.items() if k.startswith("ph_")}}  # fmt: skip
        src = f"{c.request.path}/email?{urlencode(query)}"
        result = {"subject": rendered.subject, "src": src}
    else:
        result = {"sms": rendered.body, "chars": rendered.char_count,
                  "parts": rendered.fragment_count}  # fmt: skip
    return _page(c, 200, service, template, fields, language, [], result)


@service_page("view")
async def email_document(c: Ctx, service: Row) -> Response:
    template = await load(c, service)
    bundle = await c.deps.registry.get(service["id"])
    if template is None or template.template_type != "email" or bundle is None:
        return not_found(c)
    query = {k: v[0] for k, v in c.request.query().items()}
    asked = query.get("version", "")
    if asked.isdigit() and int(asked) != template.version:
        row = await c.deps.store.templates.version(template.id, int(asked))
        if row is None or row["service_id"] != service["id"]:
            return not_found(c)
        template = Template(**dict(row))
    language = _language(template, query, bundle.service.default_language)
    try:
        rendered = render_as_sent(c.deps, bundle, template, sample_values(template, query),
                                  language)  # fmt: skip
    except MissingPersonalisation:
        return not_found(c)
    assert isinstance(rendered, RenderedEmail)
    assets = urlsplit(c.deps.settings.asset_base)
    origin = f"{assets.scheme}://{assets.netloc}".encode()
    policy = (
        b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' " + origin + b" data:;"
        b" frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
    )
    response = Response(200, rendered.html.encode(), content_type=web.HTML,
                        headers=web.SECURITY_HEADERS)  # fmt: skip
    return _with_policy(response, policy, b"SAMEORIGIN")

"""Sending one message from the console (the ``send`` role): choose a template, give the
recipient and a value per placeholder, check the rendered message, send it.

Rules:
- The check and the send go through the v2 API's own seam (``engine.api.v2.
  post_notification.build`` / ``commit``) with the request the API would decode: one
  place admits and builds a notification (limits, trial mode, opt-outs, rendering). The
  console sends as ``engine.api.auth.CONSOLE``: no key, key type ``normal``, the service's
  live sending, as GC's one-off send does; a trial (restricted) service may then send only
  to its team and safelist, as with a live key.
- The check renders the message with the code that sends it (``build``: it takes one
  rate-limit token, nothing is counted against the daily limits or written); the send
  builds again from the values the check page carries and commits.
- Admission's refusals are shown in an error summary in the reader's language
  (``engine.api.i18n.translate``: the API's own French texts).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.auth import CONSOLE
from engine.api.errors import ApiError, ValidationError
from engine.api.http import Response
from engine.api.i18n import translate
from engine.api.limits import check_body
from engine.api.router import Router
from engine.api.v2.post_notification import (
    Built,
    PostEmailRequest,
    PostSmsRequest,
    build,
    commit,
)
from engine.console import web
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.domain import console_sending
from engine.domain.errors import DomainError
from engine.domain.templates import RenderedEmail

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.services import ServiceBundle, Template
    from engine.store.rows import Row

SENDABLE = ("email", "sms")


def add_routes(r: Router, wrap: Wrap) -> None:
    base = f"{PREFIX}/services/{{service_id}}/send"
    r.add("GET", base, wrap(choose))
    r.add("GET", f"{base}/{{template_id}}", wrap(one_off))
    r.add("POST", f"{base}/{{template_id}}/check", wrap(check))
    r.add("POST", f"{base}/{{template_id}}", wrap(send))


async def sendable(c: Ctx, service: Row) -> tuple[ServiceBundle, Template] | None:
    """The service's bundle and the path's template, if it may be sent (else None: 404)."""
    bundle = await c.deps.registry.get(service["id"])
    try:
        template_id = uuid.UUID(c.request.path_params["template_id"])
    except ValueError:
        return None
    template = None if bundle is None else bundle.templates.get(template_id)
    if bundle is None or template is None or template.archived:
        return None
    if template.template_type not in SENDABLE:
        return None
    return bundle, template


def names_of(template: Template) -> list[str]:
    return console_sending.fields_of(
        template.subject, template.content, template.subject_fr, template.content_fr
    )


def problems(c: Ctx, exc: ApiError | DomainError) -> list[str]:
    """Admission's refusal as the reader reads it: the API's texts, in their language."""
    messages = exc.messages if isinstance(exc, ValidationError) else [exc.message]
    return [translate(m, "fr" if c.lang == "fr" else "en") for m in messages]


@service_page("send")
async def choose(c: Ctx, service: Row) -> Response:
    rows = await c.deps.store.templates.for_service(service["id"])
    kept = sorted((r for r in rows if not r["archived"] and r["template_type"] in SENDABLE),
                  key=lambda r: r["name"].lower())  # fmt: skip
    return c.render(200, "send_choose.html", service=service, section="send", templates=kept)


def _form(c: Ctx, service: Row, template: Template, status: int, fields: dict[str, str],
          found: list[str]) -> Response:  # fmt: skip
    names = names_of(template)
    return c.render(status, "send_form.html", service=service, section="send",
                    tpl=template, names=names, problems=found,
                    recipient=fields.get("recipient", ""),
                    values=[fields.get(f"value-{i}", "") for i in range(len(names))],
                    language=fields.get("language") or bundle_language(c))  # fmt: skip


def bundle_language(c: Ctx) -> str:
    return "fr" if c.lang == "fr" else "en"


@service_page("send")
async def one_off(c: Ctx, service: Row) -> Response:
    found = await sendable(c, service)
    if found is None:
        return not_found(c)
    return _form(c, service, found[1], 200, {}, [])


def request_of(template: Template, fields: dict[str, str]) -> PostEmailRequest | PostSmsRequest:
    """The v2 request the form stands for: what the API would decode from a client, refused
    as the API refuses its body (``check_body``: no U+0000, which PostgreSQL cannot store)."""
    names = names_of(template)
    values = console_sending.personalisation(
        names, [fields.get(f"value-{i}", "") for i in range(len(names))]
    )
    language = fields.get("language") if template.has_french else None
    common: dict[str, Any] = {
        "template_id": str(template.id),
        "personalisation": values or None,
        "language": language if language in ("en", "fr") else None,
    }
    recipient = fields.get("recipient", "")
    body: PostEmailRequest | PostSmsRequest
    if template.template_type == "email":
        body = PostEmailRequest(email_address=recipient, **common)
    else:
        body = PostSmsRequest(phone_number=recipient, **common)
    check_body(msgspec.json.encode(body))
    return body


async def _built(
    c: Ctx, service: Row, *, send: bool
) -> Response | tuple[Template, dict[str, str], Built]:
    """The form's message built by the API's own ``build`` (and, to ``send``, committed by
    its ``commit``): (template, fields, built), or the page that answers instead."""
    found = await sendable(c, service)
    if found is None:
        return not_found(c)
    bundle, template = found
    fields = web.form(c.request)
    base = c.request.base_url(c.deps.settings.public_url)
    try:
        body = request_of(template, fields)
        built = await build(c.deps, bundle, CONSOLE, template.template_type, body, base)
        if send:
            await commit(c.deps, built)
    except (ApiError, DomainError) as exc:
        return _form(c, service, template, 400, fields, problems(c, exc))
    return template, fields, built


@service_page("send")
async def check(c: Ctx, service: Row) -> Response:
    out = await _built(c, service, send=False)
    if isinstance(out, Response):
        return out
    template, fields, built = out
    rendered = built.rendered
    names = names_of(template)
    email = isinstance(rendered, RenderedEmail)
    return c.render(200, "send_check.html", service=service, section="send", tpl=template,
                    recipient=fields.get("recipient", ""), problems=[],
                    subject=rendered.subject if isinstance(rendered, RenderedEmail) else None,
                    body=rendered.text if isinstance(rendered, RenderedEmail) else rendered.body,
                    fragments=None if email else built.row.billable_units,
                    values=[fields.get(f"value-{i}", "") for i in range(len(names))],
                    language=fields.get("language") if template.has_french else None)  # fmt: skip


@service_page("send")
async def send(c: Ctx, service: Row) -> Response:
    out = await _built(c, service, send=True)
    if isinstance(out, Response):
        return out
    built = out[2]
    where = f"{PREFIX}/services/{service['id']}"
    if built.simulated:
        return c.redirect(f"{where}/notifications?simulated=1")
    return c.redirect(f"{where}/notifications/{built.row.id}?sent=1")

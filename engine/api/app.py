"""The engine's ASGI 3 application.

Serves the Notify v2 API, the admin API, health and metrics. It runs under the built-in
server (``engine.http1.server``) or any ASGI server (hypercorn ``-k trio``); it answers the
``lifespan`` protocol because hypercorn requires it (the engine's resources are started by
``engine.runtime`` before serving, so lifespan has nothing else to do here).

Every error, including 404/405/413/415/500 and the domain's refusals (rendered by
``engine.api.errors``), is a Notify JSON envelope; a traceback is logged, never sent. The
built-in server's own errors (a malformed or slow request, too many connections) get the
same envelope through ``server_error_body``, given to ``serve``.

While the database cannot be reached (``engine.store.errors.DatabaseUnavailable`` from any
handler), every request answers 503 with ``Retry-After``, caught here in one place and
logged nowhere (the store logs the outage once); ``/_status/ready`` answers 503 too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Literal

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from engine.api import admin, admin_callbacks, admin_console, branding, i18n, idempotency, receipts
from engine.api.admin_throttle import GuessThrottle
from engine.api.auth import AuthContext, VerifiedTokens, authenticate
from engine.api.errors import ApiError, database_unavailable, domain_error_body, error_body
from engine.api.http import (
    JSON,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    header_value,
    json_response,
    read_body,
)
from engine.api.router import Router
from engine.api.v2 import (
    bulk,
    bulk_jobs,
    cancel,
    files,
    get_notifications,
    inbound,
    letters,
    manage_templates,
    openapi,
    post_notification,
    reports,
    templates,
)
from engine.domain.errors import DomainError
from engine.metrics import API_LATENCY, API_REQUESTS, labelled
from engine.store.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

log = logging.getLogger("engine.api")

V2Handler = Callable[["ApiDeps", Request, AuthContext], Awaitable[Response]]
AdminHandler = Callable[["ApiDeps", Request], Awaitable[Response]]
_JSON_TYPES = (b"application/json", b"application/", b"text/json")
# The ``error`` names of the built-in server's own errors, as Notify's Flask app names them.
_SERVER_ERROR_NAMES = {
    400: "BadRequest",
    408: "RequestTimeout",
    413: "RequestEntityTooLarge",
    431: "RequestHeaderFieldsTooLarge",
    500: "Exception",
    503: "ServiceUnavailable",
}


def server_error_body(status: int, message: str) -> tuple[bytes, bytes]:
    """Content type and body of the built-in server's own error responses: the envelope."""
    return JSON, error_body(status, _SERVER_ERROR_NAMES.get(status, "Error"), message)


def _v2(
    deps: ApiDeps, tokens: VerifiedTokens, handler: V2Handler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        header = request.header(b"authorization")
        ctx = await authenticate(header, deps.registry.get, tokens)
        deps.key_usage.seen(ctx.key.id)  # memory only (engine.api.key_usage)
        if request.method in ("POST", "PUT", "PATCH"):
            content_type = request.headers.get(b"content-type")
            if content_type is not None and not content_type.startswith(_JSON_TYPES):
                raise ApiError(
                    "UnsupportedMediaType error: Content-Type must be application/json",
                    status_code=415,
                    wire_name="UnsupportedMediaType",
                )
        # The hot path without the header costs this one dict lookup.
        key = request.headers.get(idempotency.HEADER) if request.method == "POST" else None
        if key is not None:
            return await idempotency.guarded(deps, request, ctx, key, handler)
        return await handler(deps, request, ctx)

    return endpoint


def _admin(
    deps: ApiDeps, throttle: GuessThrottle, handler: AdminHandler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        admin.authorize(deps, throttle, request, time.monotonic())
        return await handler(deps, request)

    return endpoint


async def _status(request: Request) -> Response:
    return json_response(200, {"status": "ok"})


# What one listener serves: everything (the default, one port), or with a separate admin
# listener (NOTIFY_ADMIN_PORT) the public surface without /admin, and /admin alone.
Surface = Literal["all", "public", "admin"]


def build_router(deps: ApiDeps, surface: Surface = "all") -> Router:
    r = Router()
    r.add("GET", "/_status", _status)
    if surface != "public":
        _add_admin_routes(r, deps)
    if surface != "admin":
        _add_public_routes(r, deps)
    return r


def _add_public_routes(r: Router, deps: ApiDeps) -> None:
    v2 = partial(_v2, deps, VerifiedTokens())
    r.add("GET", "/_status/ready", partial(_ready, deps))
    r.add("GET", "/metrics", _metrics)
    # File links sent in emails (GC "link" files): no auth, the random id is the secret.
    r.add("GET", "/d/{document_id}", partial(files.get_document, deps))
    r.add("POST", "/d/{document_id}", partial(files.confirm_document, deps))
    # Branding images in emails (issue 22): no auth, mail clients fetch them.
    r.add("GET", "/static/branding/{name}", partial(branding.static_file, deps))
    r.add("GET", "/static/branding/logos/{service_id}/{digest}", partial(branding.logo, deps))
    r.add("POST", "/v2/notifications/email", v2(post_notification.post_email))
    r.add("POST", "/v2/notifications/sms", v2(post_notification.post_sms))
    r.add("POST", "/v2/notifications/letter", v2(letters.post_letter))
    r.add("POST", "/v2/notifications/bulk", v2(bulk.post_bulk))
    r.add("GET", "/v2/notifications/bulk/{job_id}", v2(bulk_jobs.get_bulk_job))
    r.add("DELETE", "/v2/notifications/bulk/{job_id}", v2(bulk_jobs.cancel_bulk_job))
    r.add("GET", "/v2/notifications/{notification_id}", v2(get_notifications.get_notification))
    r.add("GET", "/v2/notifications", v2(get_notifications.list_notifications))
    r.add("DELETE", "/v2/notifications/{notification_id}", v2(cancel.cancel_notification))
    r.add("GET", "/v2/template/{template_id}", v2(templates.get_template))
    r.add("GET", "/v2/template/{template_id}/version/{version}",
          v2(templates.get_template_version))  # fmt: skip
    r.add("POST", "/v2/template/{template_id}/preview", v2(templates.preview))
    r.add("GET", "/v2/templates", v2(templates.list_templates))
    r.add("GET", "/v2/received-text-messages", v2(inbound.list_received_texts))
    # Issue 24: GC's template management (keys with ``manage_templates``).
    mt = manage_templates
    r.add("POST", "/v2/manage-template", v2(mt.create_template))
    r.add("GET", "/v2/manage-template/template-categories", v2(mt.get_categories))
    r.add("GET", "/v2/manage-template/{template_id}", v2(mt.get_template))
    r.add("PATCH", "/v2/manage-template/{template_id}", v2(mt.update_template))
    r.add("DELETE", "/v2/manage-template/{template_id}", v2(mt.archive_template))
    # Issue 24: GC's reports (keys with ``manage_reports``).
    r.add("POST", "/v2/reports", v2(reports.post_report))
    r.add("GET", "/v2/reports", v2(reports.list_reports))
    r.add("GET", "/v2/reports/{report_id}", v2(reports.get_report))
    r.add("GET", "/v2/reports/{report_id}/content", v2(reports.get_content))
    r.add("GET", "/v2/openapi", partial(openapi.get_openapi, deps))
    r.add("GET", "/v2/openapi-en", partial(openapi.get_openapi, deps))
    r.add("GET", "/v2/openapi-fr", partial(openapi.get_openapi_fr, deps))
    # SNS cannot send an API key: these check the SNS message signature instead.
    receipts.add_routes(r, deps)


def _add_admin_routes(r: Router, deps: ApiDeps) -> None:
    adm = partial(_admin, deps, GuessThrottle(now=time.monotonic()))
    r.add("POST", "/admin/services", adm(admin.create_service))
    r.add("GET", "/admin/services/{service_id}", adm(admin.get_service))
    r.add("PATCH", "/admin/services/{service_id}", adm(admin.update_service))
    r.add("PUT", "/admin/services/{service_id}/branding/logo", adm(admin.upload_logo))
    r.add("POST", "/admin/services/{service_id}/templates", adm(admin.save_template))
    r.add("PUT", "/admin/services/{service_id}/templates/{template_id}", adm(admin.save_template))
    r.add("POST", "/admin/services/{service_id}/api-keys", adm(admin.create_api_key))
    r.add("DELETE", "/admin/services/{service_id}/api-keys/{key_id}", adm(admin.revoke_api_key))
    r.add("POST", "/admin/services/{service_id}/reply-to", adm(admin.add_reply_to))
    r.add("POST", "/admin/services/{service_id}/sms-senders", adm(admin.add_sms_sender))
    r.add("PUT", "/admin/services/{service_id}/callback", adm(admin.set_callback))
    r.add("POST", "/admin/services/{service_id}/callback/resume", adm(admin.resume_callback))
    r.add("POST", "/admin/services/{service_id}/callback/test", adm(admin.test_callback))
    r.add("GET", "/admin/services/{service_id}/callback", adm(admin_callbacks.get_callback_state))
    r.add("PUT", "/admin/services/{service_id}/callback/hosts",
          adm(admin_callbacks.set_callback_hosts))  # fmt: skip
    r.add("POST", "/admin/services/{service_id}/callback/replay",
          adm(admin_callbacks.replay_callbacks))  # fmt: skip
    r.add("POST", "/admin/services/{service_id}/team-members", adm(admin.add_team_member))
    r.add("GET", "/admin/services/{service_id}/data-retention", adm(admin.get_data_retention))
    r.add("POST", "/admin/services/{service_id}/data-retention", adm(admin.set_data_retention))
    r.add("GET", "/admin/services/{service_id}/usage", adm(admin.get_usage))
    # Issue 27: the web console's people.
    r.add("POST", "/admin/console-users", adm(admin_console.create_console_user))
    r.add("PUT", "/admin/services/{service_id}/console-users/{user_id}",
          adm(admin_console.set_console_roles))  # fmt: skip


async def _ready(deps: ApiDeps, request: Request) -> Response:
    problems = deps.readiness_problems()
    if not problems and not await deps.store.ping():
        problems.append("database unreachable")
    if problems:
        return json_response(503, {"status": "error", "problems": problems})
    warnings = deps.readiness_warnings()
    if warnings:  # still ready: what works works (the virus scanner down holds files only)
        return json_response(200, {"status": "ok", "degraded": warnings})
    return json_response(200, {"status": "ok"})


async def _metrics(request: Request) -> Response:
    return Response(200, generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.encode())


class EngineApp:
    """ASGI callable. ``deps``: what the handlers use of the running engine (``deps.py``)."""

    def __init__(self, deps: ApiDeps, surface: Surface = "all") -> None:
        self.deps = deps
        self.router = build_router(deps, surface)
        self.max_body = deps.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        route, params, path_exists = self.router.match(method, scope["path"])
        label = route.template if route is not None else "unmatched"
        try:
            if route is None and path_exists:
                # RFC 9110 15.5.6: a 405 lists the methods the path does serve.
                allow = ", ".join(self.router.allowed(scope["path"])).encode()
                body = error_body(
                    405, "MethodNotAllowed", "The method is not allowed for the requested URL."
                )
                response = Response(405, body, headers=[(b"allow", allow)])
            elif route is None:
                raise ApiError(
                    "The requested URL was not found on the server.",
                    status_code=404,
                    wire_name="NotFound",
                )
            else:
                request = Request(scope, await read_body(receive, self.max_body))
                request.path_params = params
                response = await route.handler(request)
        except ApiError as exc:
            response = Response(exc.status_code, exc.body())
        except DomainError as exc:
            response = Response(*domain_error_body(exc))
        except DatabaseUnavailable:
            status, body, headers = database_unavailable()
            response = Response(status, body, headers=headers)
        except Exception:
            log.exception("unhandled error", extra={"route": label})
            response = Response(500, error_body(500, "Exception", "Internal server error"))
        if response.status >= 400 and response.body.startswith(b'{"status_code"'):
            response = _in_language(response, scope)
        await response.send(send)
        labelled(API_REQUESTS, label, method, str(response.status)).inc()
        labelled(API_LATENCY, label).observe(time.perf_counter() - started)


def _in_language(response: Response, scope: Scope) -> Response:
    """An error envelope in the language the request asks for (``engine.api.i18n``).
    English, the default, is returned as it is: never decoded, never re-encoded."""
    language = i18n.choose(header_value(scope, b"accept-language"))
    if language == "en":
        return response
    return Response(
        response.status,
        i18n.translate_envelope(response.body, language),
        headers=[
            *response.headers[1:],  # [0] is the content type, which Response adds again
            (b"content-language", i18n.CONTENT_LANGUAGE[language]),
            (b"vary", b"Accept-Language"),
        ],
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

"""The console's ASGI layer: ``with_console`` serves ``/console`` and hands every other path
to the engine's API app, so the console shares its listener, ingress and process.

Rules:
- Handlers get a ``Ctx``: the request, the language's words, the CSRF token, the signed-in
  user (a verified session) or None, and the console's clock (``now``: injected, so tests
  fix it; sessions and lock-outs are judged by it).
- Every POST is checked for CSRF (``engine.console.web.csrf_ok``) before its handler runs:
  a signed-in visitor's token is bound to their session (``web.session_csrf``), a
  signed-out visitor's is the double-submit cookie.
- ``signed_in`` pages send a visitor without a verified session to the sign-in page;
  ``service_page(role)`` pages answer 404 to a user who is not a member of the service (its
  existence is not theirs to learn) and 403 to a member without the role.
- Errors are HTML pages in the visitor's language; a traceback is logged, never sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from engine.api.errors import ApiError
from engine.api.http import Receive, Request, Response, Scope, Send, read_body
from engine.api.router import Router
from engine.console import i18n, nav, web
from engine.domain import console
from engine.domain.timestamps import utcnow
from engine.store.errors import DatabaseUnavailable
from engine.store.rows import Row

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

log = logging.getLogger("engine.console")
PREFIX = "/console"
MAX_BODY = 64 * 1024
# Routes whose body may be as large as the bulk API's (``ApiSettings.max_body_bytes``): the
# CSV upload (``engine.console.pages.send_upload``). Every other form stays under MAX_BODY.
LARGE_BODY_ROUTES: set[str] = set()
_CSS = files("engine.console").joinpath("static/console.css").read_bytes()

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Ctx:
    __slots__ = ("csrf", "deps", "files", "headers", "lang", "now", "request", "sections",
                 "session_hash", "t", "user")  # fmt: skip

    def __init__(self, deps: ApiDeps, request: Request, now: dt.datetime) -> None:
        self.deps = deps
        self.request = request
        self.now = now
        jar = web.cookies(request)
        self.lang = i18n.choose(jar.get(i18n.COOKIE), request.header(b"accept-language"))
        self.t = i18n.Words(self.lang)
        self.csrf, self.headers = web.csrf_token(request)
        self.user: Row | None = None
        token = jar.get(web.SESSION)
        self.session_hash = console.digest(token) if token else None
        self.sections: list[tuple[str, str]] = []  # the service links this user may see
        # A multipart POST's files (file name, content), parsed once off the event loop.
        self.files: dict[str, tuple[str, bytes]] = {}

    def render(self, status: int, template: str, **context: Any) -> Response:
        base = {"t": self.t, "lang": self.lang, "csrf": self.csrf, "user": self.user,
                "path": self.request.path, "quote": quote, "sections": self.sections,
                **context}  # fmt: skip
        return web.page(status, template, base, self.headers)

    def redirect(self, location: str, *cookies: tuple[bytes, bytes]) -> Response:
        return web.redirect(location, [*self.headers, *cookies])


Handler = Callable[[Ctx], Awaitable[Response]]


def signed_in(handler: Handler) -> Handler:
    async def guarded(c: Ctx) -> Response:
        if c.user is None:
            return c.redirect(f"{PREFIX}/sign-in?next={quote(c.request.path)}")
        return await handler(c)

    return guarded


def service_page(role: str) -> Callable[[Callable[[Ctx, Row], Awaitable[Response]]], Handler]:
    def wrap(handler: Callable[[Ctx, Row], Awaitable[Response]]) -> Handler:
        async def guarded(c: Ctx) -> Response:
            user = c.user
            assert user is not None
            try:
                service_id = uuid.UUID(c.request.path_params["service_id"])
            except ValueError:
                return not_found(c)
            service = await c.deps.store.services.get(service_id)
            roles = await c.deps.store.console.roles(user["user_id"], service_id)
            if service is None or not (roles or user["platform_admin"]):
                return not_found(c)
            c.sections = nav.links(roles, user["platform_admin"])
            if not console.has_role(roles, user["platform_admin"], role):
                return c.render(403, "error.html", title=c.t("forbidden_title"),
                                message=c.t("forbidden"))  # fmt: skip
            return await handler(c, service)

        return signed_in(guarded)

    return wrap


def not_found(c: Ctx) -> Response:
    return c.render(404, "error.html", title=c.t("not_found_title"), message=c.t("not_found"))


class ConsoleApp:
    """ASGI: ``/console`` here, everything else to ``inner`` (the engine's ``EngineApp``)."""

    def __init__(
        self, inner: ASGIApp, deps: ApiDeps, *, now: Callable[[], dt.datetime] = utcnow
    ) -> None:
        from engine.console import pages  # the handlers need Ctx and the guards above

        self.inner = inner
        self.deps = deps
        self.now = now
        self.router = Router()
        pages.add_routes(self.router, self._wrap)
        self.router.add("GET", f"{PREFIX}/static/console.css", self._css)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.inner(scope, receive, send)
            return
        await (await self._respond(scope, receive)).send(send)

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        route, params, exists = self.router.match(scope["method"], scope["path"])
        limit = MAX_BODY
        if route is not None and route.template in LARGE_BODY_ROUTES:
            limit = self.deps.settings.max_body_bytes
        try:
            request = Request(scope, await read_body(receive, limit))
        except ApiError as exc:
            return Response(exc.status_code, b"", content_type=web.HTML,
                            headers=web.SECURITY_HEADERS)  # fmt: skip
        request.path_params = params
        if route is None:
            c = Ctx(self.deps, request, self.now())
            if exists:
                return Response(405, b"", content_type=web.HTML, headers=web.SECURITY_HEADERS)
            return not_found(c)
        return await route.handler(request)

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            c = Ctx(self.deps, request, self.now())
            try:
                bound = None
                if c.session_hash is not None:
                    row = await self.deps.store.console.session(c.session_hash, c.now)
                    if row is not None and row["verified"]:
                        c.user = row
                        bound = c.csrf = web.session_csrf(request)
                if request.method == "POST":
                    fields, c.files = await web.read_form(request)
                    if not web.csrf_ok(request, fields, bound):
                        return c.render(403, "error.html", title=c.t("csrf_title"),
                                        message=c.t("csrf"))  # fmt: skip
                return await handler(c)
            except DatabaseUnavailable:
                retry = [*web.SECURITY_HEADERS, (b"retry-after", b"5")]
                return Response(503, b"Service unavailable", content_type=web.HTML,
                                headers=retry)  # fmt: skip
            except Exception:
                log.exception("console error", extra={"route": request.path})
                return Response(500, b"Internal server error", content_type=web.HTML,
                                headers=web.SECURITY_HEADERS)  # fmt: skip

        return endpoint

    async def _css(self, request: Request) -> Response:
        return Response(200, _CSS, content_type=b"text/css; charset=utf-8",
                        headers=[(b"cache-control", b"public, max-age=3600"),
                                 (b"x-content-type-options", b"nosniff")])  # fmt: skip


def with_console(inner: ASGIApp, deps: ApiDeps, **kwargs: Any) -> ConsoleApp:
    return ConsoleApp(inner, deps, **kwargs)

"""The console's HTTP plumbing: cookies, forms, CSRF, security headers, HTML rendering.

Rules:
- Every response carries a strict Content-Security-Policy (``CSP``: our own stylesheet, no
  script at all, no inline style, no framing, forms to ourselves only) and the usual
  companions (nosniff, no referrer, no caching of pages that show a service's data).
- Cookies: the session (``__Host-ne_session``) and the CSRF token (``__Host-ne_csrf``) are
  Secure, HttpOnly, Path=/ and SameSite (Lax for the session, so that a link from the
  sign-in email works; Strict for the token). ``__Host-`` means no subdomain can plant
  them. Browsers treat http://localhost as secure, so they work in tests on loopback.
- CSRF: every form carries a hidden ``csrf_token`` field. Signed in, it must be the
  session's own token (``session_csrf``: an HMAC of the session cookie's value, so a token
  from another session is refused and it changes with the session); signed out, the value
  of ``__Host-ne_csrf`` (double-submit). A POST whose field differs (compared in constant
  time), or whose Origin is another site's, is refused with 403 before its handler runs.
- Pages are Jinja2 templates, autoescaped, ``StrictUndefined`` (a missing value is an
  error, not an empty string).
- Forms are urlencoded, or ``multipart/form-data`` where a file is sent (the CSV upload),
  parsed by the standard library's ``email`` parser (``multipart``) in a worker thread
  (``read_form``: ~140 ms for a 50,000-row, 2 MB file, too long for the event loop); the
  CSRF check reads the token from either.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from email import policy
from email.parser import BytesParser
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trio
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from engine.api.http import Request, Response
from engine.domain import console, console_people

HTML = b"text/html; charset=utf-8"
SESSION = "__Host-ne_session"
CSRF = "__Host-ne_csrf"
CSP = (
    b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
    b" frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]

_env = Environment(
    loader=PackageLoader("engine.console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def cookies(request: Request) -> dict[str, str]:
    raw = request.header(b"cookie")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def set_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    http_only: bool = True,
    same_site: str = "Lax",
) -> tuple[bytes, bytes]:
    parts = [f"{name}={value}", "Path=/", "Secure", f"SameSite={same_site}"]
    if http_only:
        parts.append("HttpOnly")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return b"set-cookie", "; ".join(parts).encode()


def clear_cookie(name: str) -> tuple[bytes, bytes]:
    return set_cookie(name, "", max_age=0)


def form(request: Request) -> dict[str, str]:
    """A form's text fields (the first value of each), urlencoded or multipart."""
    if _is_multipart(request):
        return multipart(request)[0]
    fields = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


async def read_form(request: Request) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """A POST's text fields and files; a multipart body is parsed in a worker thread."""
    if _is_multipart(request):
        return await trio.to_thread.run_sync(multipart, request)
    return form(request), {}


def _is_multipart(request: Request) -> bool:
    return (request.header(b"content-type") or "").lower().startswith("multipart/form-data")


def multipart(request: Request) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """A ``multipart/form-data`` body: its text fields, and its files as (file name,
    content). Anything else is no fields and no files."""
    if not _is_multipart(request):
        return {}, {}
    kind = request.header(b"content-type") or ""
    head = b"MIME-Version: 1.0\r\nContent-Type: " + kind.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        file_name = part.get_filename()
        if file_name is not None:
            files.setdefault(name, (file_name, content))
        else:
            fields.setdefault(name, content.decode("utf-8", "replace"))
    return fields, files


def csrf_ok(request: Request, fields: Mapping[str, str], bound: str | None = None) -> bool:
    """Origin ours (or absent), and the form's token the session's (``bound``) when signed
    in, else the double-submit cookie's."""
    origin = request.header(b"origin")
    if origin and origin != "null":
        host = request.header(b"host") or ""
        if urlsplit(origin).netloc != host:
            return False
    expected = bound if bound is not None else cookies(request).get(CSRF, "")
    given = fields.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def session_csrf(request: Request) -> str:
    """The CSRF token of the request's session (an HMAC of its cookie value)."""
    return console_people.session_csrf(cookies(request).get(SESSION, ""))


def csrf_token(request: Request) -> tuple[str, list[tuple[bytes, bytes]]]:
    """The request's CSRF token and, when it had none, the cookie that sets one."""
    existing = cookies(request).get(CSRF)
    if existing and len(existing) >= 32:
        return existing, []
    token = console.new_token()
    return token, [set_cookie(CSRF, token, same_site="Strict")]


def page(
    status: int,
    template: str,
    context: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Response:
    body = _env.get_template(template).render(**context).encode()
    return Response(status, body, content_type=HTML,
                    headers=[*SECURITY_HEADERS, *(headers or [])])  # fmt: skip


def redirect(location: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(303, b"", content_type=HTML,
                    headers=[*SECURITY_HEADERS, (b"location", location.encode()),
                             *(headers or [])])  # fmt: skip

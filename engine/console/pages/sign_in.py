"""Signing in and out, and the language toggle: the password, then the second factor the
user chose (``engine.domain.console_people``): a 6-digit code emailed (the default) or
texted by the engine's own system service, or a TOTP code from an authenticator app.

Rules:
- Sign-in: a locked account is refused before its password is checked; a wrong password or
  code counts one failed attempt in PostgreSQL (``store.console.record_failure``); the
  ``MAX_ATTEMPTS``-th locks the account for ``LOCK_MINUTES``. An unknown email costs the
  same argon2 work as a known one (no timing oracle) and answers the same words.
- Every failed step also counts against the client's address (``client_address``: the
  peer, or the hop a private-network ingress appended); ``ADDRESS_LIMIT`` failures in the window
  refuse every sign-in step from that address, right or wrong, until they age out.
- A TOTP code is accepted once: its step must come after the last one accepted.
- The password's session is pending until the code is given; the verified session gets a
  new cookie value (the pending one is worthless afterwards).
- Argon2 runs in a worker thread (``trio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING
from urllib.parse import quote

import trio

from engine.api.http import Response
from engine.api.router import Router
from engine.console import i18n, mail, web
from engine.console.app import PREFIX, Ctx, not_found
from engine.domain import console, console_people

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

YEAR = 365 * 24 * 3600
# Verified against when the email is unknown: the same argon2 cost as a real check.
_DUMMY_HASH = console.hash_password("not a password: equalises the time of a refusal")


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", PREFIX, wrap(home))
    r.add("GET", f"{PREFIX}/sign-in", wrap(sign_in_form))
    r.add("POST", f"{PREFIX}/sign-in", wrap(sign_in))
    r.add("GET", f"{PREFIX}/two-factor", wrap(code_form))
    r.add("POST", f"{PREFIX}/two-factor", wrap(check_code))
    r.add("POST", f"{PREFIX}/sign-out", wrap(sign_out))
    r.add("GET", f"{PREFIX}/language/{{lang}}", wrap(language))


async def home(c: Ctx) -> Response:
    return c.redirect(f"{PREFIX}/services" if c.user else f"{PREFIX}/sign-in")


async def language(c: Ctx) -> Response:
    lang = c.request.path_params["lang"]
    if lang not in i18n.LANGUAGES:
        return not_found(c)
    target = console.safe_next(c.request.query().get("next", [""])[0])
    return c.redirect(target, web.set_cookie(i18n.COOKIE, lang, max_age=YEAR))


def _sign_in_page(c: Ctx, status: int, error: str | None, email: str = "") -> Response:
    nxt = console.safe_next(c.request.query().get("next", [""])[0], f"{PREFIX}/services")
    joined = c.request.query().get("joined", [""])[0] == "1"  # an invitation was accepted
    return c.render(status, "sign_in.html", error=error, email=email, next=nxt, joined=joined)


async def sign_in_form(c: Ctx) -> Response:
    if c.user is not None:
        return c.redirect(f"{PREFIX}/services")
    return _sign_in_page(c, 200, None)


def _locked(c: Ctx, status: int = 429) -> Response:
    return _sign_in_page(c, status, c.t("locked", minutes=console.LOCK_MINUTES))


def _address(c: Ctx) -> str:
    client = c.request.scope.get("client")
    peer = str(client[0]) if client else None
    return console_people.client_address(peer, c.request.header(b"x-forwarded-for"))


async def _address_blocked(c: Ctx) -> bool:
    since = console_people.address_window_start(c.now)
    failures = await c.deps.store.console_people.address_failures(_address(c), since)
    return failures >= console_people.ADDRESS_LIMIT


async def _address_failed(c: Ctx) -> None:
    await c.deps.store.console_people.record_address_failure(_address(c), c.now)


def _address_refused(c: Ctx) -> Response:
    minutes = console_people.ADDRESS_WINDOW_MINUTES
    return _sign_in_page(c, 429, c.t("addr_limited", minutes=minutes))


async def sign_in(c: Ctx) -> Response:
    if await _address_blocked(c):
        return _address_refused(c)
    fields = web.form(c.request)
    email = fields.get("email", "").strip()
    password = fields.get("password", "")
    store = c.deps.store.console
    user = await store.user_by_email(email) if email else None
    if user is None:
        await trio.to_thread.run_sync(console.verify_password, _DUMMY_HASH, password)
        await _address_failed(c)
        return _sign_in_page(c, 401, c.t("bad_sign_in"), email)
    if user["locked_until"] is not None and user["locked_until"] > c.now:
        await _address_failed(c)
        return _locked(c)
    right = await trio.to_thread.run_sync(console.verify_password, user["password_hash"],
                                          password)  # fmt: skip
    if not right:
        await _address_failed(c)
        locked = await store.record_failure(user["id"], console.MAX_ATTEMPTS,
                                            console.lock_until(c.now))  # fmt: skip
        return _locked(c) if locked else _sign_in_page(c, 401, c.t("bad_sign_in"), email)
    if console.needs_rehash(user["password_hash"]):
        rehashed = await trio.to_thread.run_sync(console.hash_password, password)
        await store.set_password_hash(user["id"], rehashed)
    await store.end_expired(c.now)  # expired sessions go at each sign-in (an indexed range)
    await c.deps.store.console_people.forget_address_failures(
        console_people.address_window_start(c.now)
    )  # likewise the failures the window no longer counts
    factor = await c.deps.store.console_people.factor(user["id"])
    chosen = factor["second_factor"] if factor else "email"
    token, code = console.new_token(), console.new_code()
    if chosen == "totp":  # nothing is sent; the stored code can match no input
        code = console.new_token()
    await store.open_session(console.digest(token), user["id"], console.digest(f"{token}:{code}"),
                             console.code_expiry(c.now))  # fmt: skip
    if chosen == "sms" and factor and factor["phone"]:
        await mail.send_sms_code(c.deps, factor["phone"], code)
    elif chosen == "email":
        await mail.send_code(c.deps, user["email"], code)
    nxt = console.safe_next(fields.get("next"), f"{PREFIX}/services")
    return c.redirect(f"{PREFIX}/two-factor?next={quote(nxt)}", web.set_cookie(web.SESSION, token))


async def _pending(c: Ctx) -> Row | None:
    if c.session_hash is None:
        return None
    row = await c.deps.store.console.session(c.session_hash, c.now)
    return row if row is not None and not row["verified"] else None


_TITLES = {"sms": "factor_sms_title", "totp": "factor_totp_title"}


async def _factor(c: Ctx, pending: Row) -> Row:
    factor = await c.deps.store.console_people.factor(pending["user_id"])
    return factor or {"second_factor": "email", "totp_secret": None, "totp_last_step": None}


def _code_page(c: Ctx, status: int, error: str | None, factor: str) -> Response:
    nxt = console.safe_next(c.request.query().get("next", [""])[0], f"{PREFIX}/services")
    return c.render(status, "code.html", error=error, minutes=console.CODE_MINUTES, next=nxt,
                    factor=factor, title=_TITLES.get(factor, "code_title"))  # fmt: skip


async def code_form(c: Ctx) -> Response:
    pending = await _pending(c)
    if pending is None:
        return c.redirect(f"{PREFIX}/sign-in")
    return _code_page(c, 200, None, (await _factor(c, pending))["second_factor"])


async def _right_code(c: Ctx, pending: Row, factor: Row, code: str) -> bool:
    if factor["second_factor"] == "totp":
        secret = factor["totp_secret"]
        step = secret and console_people.totp_step(secret, code, c.now, factor["totp_last_step"])
        if not step:
            return False
        return await c.deps.store.console_people.accept_totp_step(pending["user_id"], step)
    token = web.cookies(c.request)[web.SESSION]
    given = console.digest(f"{token}:{code}")
    return bool(pending["code_hash"]) and hmac.compare_digest(given, pending["code_hash"])


async def check_code(c: Ctx) -> Response:
    if await _address_blocked(c):
        return _address_refused(c)
    pending = await _pending(c)
    if pending is None or c.session_hash is None:
        return c.redirect(f"{PREFIX}/sign-in")
    store = c.deps.store.console
    if pending["locked_until"] is not None and pending["locked_until"] > c.now:
        await store.end_session(c.session_hash)
        return _locked(c)
    fields = web.form(c.request)
    code = "".join(fields.get("code", "").split())
    factor = await _factor(c, pending)
    if not await _right_code(c, pending, factor, code):
        await _address_failed(c)
        locked = await store.record_failure(pending["user_id"], console.MAX_ATTEMPTS,
                                            console.lock_until(c.now))  # fmt: skip
        if locked:
            await store.end_session(c.session_hash)
            return _locked(c)
        return _code_page(c, 401, c.t("bad_code"), factor["second_factor"])
    new_token = console.new_token()
    verified = await store.verify_session(c.session_hash, console.digest(new_token),
                                          console.session_expiry(c.now))  # fmt: skip
    if not verified:
        return c.redirect(f"{PREFIX}/sign-in")
    await store.reset_failures(pending["user_id"])
    nxt = console.safe_next(fields.get("next"), f"{PREFIX}/services")
    return c.redirect(nxt, web.set_cookie(web.SESSION, new_token))


async def sign_out(c: Ctx) -> Response:
    if c.session_hash is not None:
        await c.deps.store.console.end_session(c.session_hash)
    return c.redirect(f"{PREFIX}/sign-in", web.clear_cookie(web.SESSION))

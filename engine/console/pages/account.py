"""Your account: the second factor the sign-in asks for (``engine.domain.console_people``).

Rules:
- The emailed code is the default and can be chosen again at any time.
- TOTP: the setup page shows a new secret (kept sealed as pending until confirmed) as text in
  groups of four and as its ``otpauth://`` URI; it takes effect only once a first valid
  code confirms it (that code's step is then spent).
- SMS: the number (validated as the API validates a recipient) is sent a 6-digit code by
  the engine's system service; it takes effect once that code is given back within
  ``CODE_MINUTES``. The number is sealed at rest.
- A wrong confirmation code counts towards the account's lock-out, as at sign-in; the
  ``MAX_ATTEMPTS``-th ends the session.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from engine.api.http import Response
from engine.api.router import Router
from engine.console import mail, web
from engine.console.app import PREFIX, Ctx, signed_in
from engine.domain import console, console_people
from engine.domain.recipients import InvalidRecipient, validate_phone_number

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

_ACCOUNT = f"{PREFIX}/account"
NOTICES = ("email", "totp", "sms")


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", _ACCOUNT, wrap(account))
    r.add("POST", f"{_ACCOUNT}/email", wrap(use_email))
    r.add("GET", f"{_ACCOUNT}/totp", wrap(totp_form))
    r.add("POST", f"{_ACCOUNT}/totp", wrap(confirm_totp))
    r.add("GET", f"{_ACCOUNT}/sms", wrap(sms_form))
    r.add("POST", f"{_ACCOUNT}/sms", wrap(send_sms))
    r.add("GET", f"{_ACCOUNT}/sms/confirm", wrap(sms_confirm_form))
    r.add("POST", f"{_ACCOUNT}/sms/confirm", wrap(confirm_sms))


async def _factor(c: Ctx) -> Row:
    assert c.user is not None
    found = await c.deps.store.console_people.factor(c.user["user_id"])
    assert found is not None
    return found


def masked(phone: str | None) -> str:
    return "" if not phone else "•••• " + phone[-4:]


@signed_in
async def account(c: Ctx) -> Response:
    factor = await _factor(c)
    done = c.request.query().get("done", [""])[0]
    return c.render(200, "account.html", factor=factor["second_factor"],
                    phone=masked(factor["phone"]),
                    done=done if done in NOTICES else None)  # fmt: skip


@signed_in
async def use_email(c: Ctx) -> Response:
    assert c.user is not None
    await c.deps.store.console_people.use_email_code(c.user["user_id"])
    return c.redirect(f"{_ACCOUNT}?done=email")


async def _wrong(c: Ctx) -> Response | None:
    """Count a wrong confirmation code; the session's end if it locked the account."""
    assert c.user is not None
    locked = await c.deps.store.console.record_failure(
        c.user["user_id"], console.MAX_ATTEMPTS, console.lock_until(c.now)
    )
    if not locked:
        return None
    if c.session_hash is not None:
        await c.deps.store.console.end_session(c.session_hash)
    return c.redirect(f"{PREFIX}/sign-in", web.clear_cookie(web.SESSION))


def _totp_page(c: Ctx, status: int, secret: str, error: str | None) -> Response:
    assert c.user is not None
    return c.render(status, "account_totp.html", grouped=console_people.grouped(secret),
                    uri=console_people.totp_uri(secret, c.user["email"]),
                    error=error)  # fmt: skip


@signed_in
async def totp_form(c: Ctx) -> Response:
    assert c.user is not None
    secret = (await _factor(c))["totp_pending"]
    if secret is None:  # a new secret, kept until confirmed (a reload shows the same one)
        secret = console_people.new_totp_secret()
        await c.deps.store.console_people.set_totp_pending(c.user["user_id"], secret)
    return _totp_page(c, 200, secret, None)


@signed_in
async def confirm_totp(c: Ctx) -> Response:
    assert c.user is not None
    secret = (await _factor(c))["totp_pending"]
    if secret is None:
        return c.redirect(f"{_ACCOUNT}/totp")
    code = web.form(c.request).get("code", "")
    step = console_people.totp_step(secret, code, c.now, None)
    if step is None:
        return await _wrong(c) or _totp_page(c, 401, secret, c.t("bad_code"))
    await c.deps.store.console_people.confirm_totp(c.user["user_id"], secret, step)
    await c.deps.store.console.reset_failures(c.user["user_id"])
    return c.redirect(f"{_ACCOUNT}?done=totp")


def _sms_page(c: Ctx, status: int, error: str | None, phone: str = "") -> Response:
    return c.render(status, "account_sms.html", error=error, phone=phone)


@signed_in
async def sms_form(c: Ctx) -> Response:
    return _sms_page(c, 200, None)


@signed_in
async def send_sms(c: Ctx) -> Response:
    assert c.user is not None
    given = web.form(c.request).get("phone", "").strip()
    try:
        phone = validate_phone_number(given).e164
    except InvalidRecipient:
        return _sms_page(c, 400, c.t("account_bad_phone"), given)
    code = console.new_code()
    await c.deps.store.console_people.set_phone_pending(
        c.user["user_id"], phone, _code_hash(c, code), console.code_expiry(c.now)
    )
    await mail.send_sms_code(c.deps, phone, code)
    return c.redirect(f"{_ACCOUNT}/sms/confirm")


def _code_hash(c: Ctx, code: str) -> bytes:
    assert c.user is not None
    return console.digest(f"{c.user['user_id']}:phone:{code}")


def _confirm_page(c: Ctx, status: int, phone: str | None, error: str | None) -> Response:
    return c.render(status, "account_sms_confirm.html", error=error, phone=masked(phone),
                    minutes=console.CODE_MINUTES)  # fmt: skip


@signed_in
async def sms_confirm_form(c: Ctx) -> Response:
    factor = await _factor(c)
    if factor["phone_pending"] is None:
        return c.redirect(f"{_ACCOUNT}/sms")
    return _confirm_page(c, 200, factor["phone_pending"], None)


@signed_in
async def confirm_sms(c: Ctx) -> Response:
    assert c.user is not None
    factor = await _factor(c)
    phone, expected = factor["phone_pending"], factor["phone_code_hash"]
    if phone is None or expected is None:
        return c.redirect(f"{_ACCOUNT}/sms")
    code = "".join(web.form(c.request).get("code", "").split())
    fresh = factor["phone_code_expires"] is not None and factor["phone_code_expires"] > c.now
    if not (fresh and hmac.compare_digest(_code_hash(c, code), expected)):
        return await _wrong(c) or _confirm_page(c, 401, phone, c.t("bad_code"))
    await c.deps.store.console_people.confirm_phone(c.user["user_id"], phone)
    await c.deps.store.console.reset_failures(c.user["user_id"])
    return c.redirect(f"{_ACCOUNT}?done=sms")

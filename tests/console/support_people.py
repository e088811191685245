"""Harness helpers for the console's people tests: what the engine's system service sent
(the invitation's link, the SMS code) read back from its notifications, as
``ConsoleEngine.last_code`` reads the emailed sign-in code; signing in with a second factor
a test gives itself (a TOTP code computed from the secret at the console's fixed clock)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import urlencode

import httpx2
import pyotp

from engine.domain import console_people
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from tests import sql
from tests.console.support import PASSWORD, ConsoleEngine, Visitor

PHONE = "+16132532222"  # a simulated number (engine.domain.recipients.SIMULATED_PHONES)
_LINK = re.compile(r"(/console/invitations/[A-Za-z0-9_-]+)")
_CODE = re.compile(r"\b(\d{6})\b")
_KEY = re.compile(r'<code id="totp-key">([A-Z2-7 ]+)</code>')


async def post_pairs(v: Visitor, path: str, pairs: list[tuple[str, str]]) -> httpx2.Response:
    """A form whose fields repeat (the role checkboxes), with the page's CSRF token."""
    v.client.cookies.clear()
    body = urlencode([("csrf_token", v.csrf), *pairs])
    headers = {**v._headers(), "content-type": "application/x-www-form-urlencoded"}
    return v._keep(await v.client.post(path, content=body, headers=headers))


async def _last_body(running: ConsoleEngine, template: uuid.UUID, recipient: str) -> str:
    rows = await sql.opened(
        running.engine.store,
        "SELECT id, recipient, body FROM notifications WHERE service_id = $1"
        " AND template_id = $2 ORDER BY created_at DESC",
        SYSTEM_SERVICE_ID, template,
    )  # fmt: skip
    mine = [r for r in rows if r["recipient"] == recipient]
    assert mine, f"nothing was sent to {recipient}"
    return str(mine[0]["body"])


async def invite_link(running: ConsoleEngine, email: str) -> str:
    """The path of the link in the last invitation emailed to ``email``."""
    body = await _last_body(running, console_people.INVITE_TEMPLATE.id, email)
    found = _LINK.search(body)
    assert found is not None, body
    return found[1]


async def sms_code(running: ConsoleEngine, phone: str = PHONE) -> str:
    body = await _last_body(running, console_people.SMS_CODE_TEMPLATE.id, phone)
    found = _CODE.search(body)
    assert found is not None
    return found[1]


def totp_now(secret: str, running: ConsoleEngine, **shift: float) -> str:
    """What an authenticator app would show at the console's clock (moved by ``shift``)."""
    return str(pyotp.TOTP(secret).at(running.clock.at + dt.timedelta(**shift)))


async def set_up_totp(v: Visitor, running: ConsoleEngine) -> str:
    """Open the setup page, read the key, confirm it with its current code; the secret."""
    r = await v.get("/console/account/totp")
    assert r.status_code == 200, r.text
    found = _KEY.search(r.text)
    assert found is not None
    secret = found[1].replace(" ", "")
    r = await v.post("/console/account/totp", {"code": totp_now(secret, running)})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/account?done=totp"
    return secret


async def password_step(v: Visitor, email: str) -> str:
    """The password step; the second step's page (its text)."""
    await v.get("/console/sign-in")
    r = await v.post("/console/sign-in", {"email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return (await v.get(r.headers["location"])).text

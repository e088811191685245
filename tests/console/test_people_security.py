"""The console's second factors and sign-in limits over real sockets (issue 27): TOTP set up
in "Your account" and confirmed by a first code, then asked at sign-in (a code the test
computes at the console's fixed clock), a used step refused; a code by SMS through the
engine's system service; failures counted per client address across browsers; a signed-in
session's CSRF token refused in another session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.domain import console_people
from tests import sql
from tests.console.support import PASSWORD, ConsoleEngine, Visitor, console_engine
from tests.console.support_people import PHONE, password_step, set_up_totp, sms_code, totp_now

LEAD = "lead@department.example"
OTHER = "other@department.example"


@pytest.fixture
async def running(aio_loop: None, database_url: str) -> AsyncIterator[ConsoleEngine]:
    async with console_engine(database_url) as r:
        yield r


async def test_sign_in_with_totp_and_a_used_code_is_refused(running: ConsoleEngine) -> None:
    await running.add_user(LEAD)
    async with Visitor(running) as v:
        assert (await v.sign_in(running, LEAD)).status_code == 303
        r = await v.get("/console/account")
        assert "You now use: a code by email." in r.text
        r = await v.get("/console/account/totp")
        assert "otpauth://totp/Notify:lead%40department.example?secret=" in r.text
        r = await v.post("/console/account/totp", {"code": "000000"})
        assert r.status_code == 401  # not confirmed: the email code still applies
        secret = await set_up_totp(v, running)
        assert "an authenticator app" in (await v.get("/console/account")).text
        await v.post("/console/sign-out", {})
    stored = await sql.fetch(running.engine.store, "SELECT totp_secret FROM console_users")
    assert secret not in repr(stored)  # sealed at rest
    running.clock.advance(seconds=60)
    emailed = await running.last_code(LEAD)
    async with Visitor(running) as v:
        page = await password_step(v, LEAD)
        assert "Enter your app&#39;s code" in page
        assert await running.last_code(LEAD) == emailed  # no email this time
        code = totp_now(secret, running)
        r = await v.post("/console/two-factor", {"code": code})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/console/services"
        assert (await v.get("/console/services")).status_code == 200
    async with Visitor(running) as thief:  # the same code again (seen over a shoulder)
        await password_step(thief, LEAD)
        r = await thief.post("/console/two-factor", {"code": code})
        assert r.status_code == 401
        assert "The code is not right" in r.text
        # nor the step before the one accepted, though within the drift window
        r = await thief.post(
            "/console/two-factor", {"code": totp_now(secret, running, seconds=-30)}
        )
        assert r.status_code == 401
        r = await thief.post("/console/two-factor", {"code": totp_now(secret, running, seconds=30)})
        assert r.status_code == 303  # the next step is new


async def test_sign_in_with_a_code_by_sms(running: ConsoleEngine) -> None:
    await running.add_user(LEAD)
    async with Visitor(running) as v:
        assert (await v.sign_in(running, LEAD)).status_code == 303
        r = await v.post("/console/account/sms", {"phone": "not a number"})
        assert r.status_code == 400
        r = await v.post("/console/account/sms", {"phone": "613 253 2222"})
        assert r.status_code == 303
        assert r.headers["location"] == "/console/account/sms/confirm"
        assert "•••• 2222" in (await v.get(r.headers["location"])).text
        r = await v.post("/console/account/sms/confirm", {"code": await sms_code(running)})
        assert r.status_code == 303
        assert "a code by text message to •••• 2222" in (await v.get("/console/account")).text
        await v.post("/console/sign-out", {})
    stored = await sql.fetch(running.engine.store, "SELECT phone FROM console_users")
    assert PHONE not in repr(stored)
    async with Visitor(running) as v:
        page = await password_step(v, LEAD)
        assert "Check your phone" in page
        code = await sms_code(running)
        rows = await sql.fetch(
            running.engine.store,
            "SELECT notification_type FROM notifications WHERE template_id = $1",
            console_people.SMS_CODE_TEMPLATE.id,
        )
        assert [r["notification_type"] for r in rows] == ["sms", "sms"]  # setup, sign-in
        r = await v.post("/console/two-factor", {"code": code})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/console/services"


async def test_failures_are_limited_per_client_address(running: ConsoleEngine) -> None:
    await running.add_user(LEAD)
    async with Visitor(running) as attacker:  # many accounts, none locked by itself
        await attacker.get("/console/sign-in")
        for i in range(console_people.ADDRESS_LIMIT):
            r = await attacker.post("/console/sign-in",
                                    {"email": f"guess{i}@department.example",
                                     "password": PASSWORD})  # fmt: skip
            assert r.status_code == 401
    stored = await sql.fetch(running.engine.store, "SELECT * FROM console_address_failures")
    assert len(stored) == console_people.ADDRESS_LIMIT
    assert "127.0.0.1" not in repr(stored)  # a keyed hash, not the address
    async with Visitor(running) as same_network:  # another browser, the same address
        await same_network.get("/console/sign-in")
        r = await same_network.post("/console/sign-in", {"email": LEAD, "password": PASSWORD})
        assert r.status_code == 429
        assert "Too many failed sign-in attempts from your network" in r.text
        # behind an ingress (a loopback peer here), its X-Forwarded-For hop is the client
        elsewhere = await same_network.client.post(
            "/console/sign-in",
            data={"email": LEAD, "password": PASSWORD, "csrf_token": same_network.csrf},
            headers={**same_network._headers(), "x-forwarded-for": "198.51.100.7"},
        )
        assert elsewhere.status_code == 303
        running.clock.advance(minutes=console_people.ADDRESS_WINDOW_MINUTES, seconds=1)
        assert (await same_network.sign_in(running, LEAD)).status_code == 303
    left = await sql.fetch(running.engine.store, "SELECT 1 FROM console_address_failures")
    assert left == []  # aged out, deleted at the sign-in


async def test_a_csrf_token_from_another_session_is_refused(running: ConsoleEngine) -> None:
    made = await running.create_service()
    sid = made["service"]["id"]
    for who in (LEAD, OTHER):
        await running.set_roles(sid, await running.add_user(who), ["manage_api_keys"])
    keys = await running.engine.store.keys.for_service(made["service"]["id"])
    path = f"/console/services/{sid}/api-keys/{keys[0]['id']}/revoke"
    async with Visitor(running) as lead, Visitor(running) as other:
        await lead.get("/console/sign-in")
        signed_out_token = lead.csrf
        assert (await lead.sign_in(running, LEAD)).status_code == 303
        assert lead.csrf != signed_out_token  # bound to the session now
        assert lead.csrf == console_people.session_csrf(lead.jar["__Host-ne_session"])
        assert (await other.sign_in(running, OTHER)).status_code == 303
        r = await lead.post(path, {"csrf_token": other.csrf}, csrf=False)
        assert r.status_code == 403
        r = await lead.post(path, {"csrf_token": signed_out_token}, csrf=False)
        assert r.status_code == 403  # nor the double-submit cookie's, once signed in
        still = await running.engine.store.keys.for_service(made["service"]["id"])
        assert still[0]["expiry_date"] is None
        assert (await lead.post(path, {})).status_code == 303


async def test_wrong_confirmation_codes_count_towards_the_lock(running: ConsoleEngine) -> None:
    await running.add_user(LEAD)
    async with Visitor(running) as v:
        assert (await v.sign_in(running, LEAD)).status_code == 303
        await v.post("/console/account/sms", {"phone": PHONE})
        right = await sms_code(running)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        answers = [(await v.post("/console/account/sms/confirm", {"code": wrong})).status_code
                   for _ in range(5)]  # fmt: skip
        assert answers == [401] * 4 + [303]  # the fifth locks the account and signs out
        r = await v.get("/console/account")
        assert r.status_code == 303  # the session is gone
    [user] = await sql.fetch(running.engine.store, "SELECT second_factor, locked_until"
                             " FROM console_users")  # fmt: skip
    assert user["second_factor"] == "email"  # the number was never confirmed
    assert user["locked_until"] is not None

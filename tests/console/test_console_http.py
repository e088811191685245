"""The console over real sockets (issue 27): sign-in with the emailed code, the pages,
both languages, and the security rules: CSRF refused, a viewer kept from a manager's
action, sessions that expire (a fixed clock), sign-in attempts limited with a lock-out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.domain import console
from tests import sql
from tests.api.test_slice import jwt_header
from tests.console.support import PASSWORD, ConsoleEngine, Visitor, console_engine

LEAD = "lead@department.example"
VIEWER = "viewer@department.example"


@pytest.fixture
async def running(aio_loop: None, database_url: str) -> AsyncIterator[ConsoleEngine]:
    async with console_engine(database_url) as r:
        yield r


async def test_sign_in_with_the_emailed_code_and_see_the_service(running: ConsoleEngine) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid = made["service"]["id"]
    uid = await running.add_user(LEAD)
    await running.set_roles(sid, uid, ["view", "manage_api_keys"])
    async with running.client() as api:  # one email sent: the dashboard counts it
        r = await api.post("/v2/notifications/email", headers=jwt_header(made["keys"]["normal"]),
                           json={"email_address": "someone@example.com",
                                 "template_id": made["email_template"],
                                 "personalisation": {"name": "A", "code": "1"}})  # fmt: skip
        assert r.status_code == 201, r.text
    async with Visitor(running) as v:
        r = await v.get("/console/services")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/sign-in")
        r = await v.sign_in(running, LEAD)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/console/services"
        r = await v.get("/console/services")
        assert r.status_code == 200
        assert "Passport office" in r.text
        assert f'href="/console/services/{sid}"' in r.text
        r = await v.get(f"/console/services/{sid}")
        assert r.status_code == 200
        assert "<h1>Dashboard</h1>" in r.text
        assert '<td class="num">1</td>' in r.text  # one sent today
        r = await v.get(f"/console/services/{sid}/templates")
        assert ">email</a></td>" in r.text
        assert ">sms</a></td>" in r.text
        r = await v.get(f"/console/language/fr?next=/console/services/{sid}")
        assert r.status_code == 303
        assert r.headers["location"] == f"/console/services/{sid}"
        r = await v.get(f"/console/services/{sid}")
        assert '<html lang="fr">' in r.text
        assert "<h1>Tableau de bord</h1>" in r.text
        assert "Utilisation par rapport à vos limites" in r.text
        r = await v.post("/console/sign-out", {})
        assert r.status_code == 303
        r = await v.get("/console/services")
        assert r.status_code == 303  # signed out: back to the sign-in page


async def test_every_page_has_the_strict_policy_and_no_inline_code(
    running: ConsoleEngine,
) -> None:
    async with Visitor(running) as v:
        r = await v.get("/console/sign-in")
    policy = r.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # no script at all (default-src 'none')
    assert "unsafe-inline" not in policy
    assert "<script" not in r.text
    assert "style=" not in r.text
    assert r.headers["x-frame-options"] == "DENY"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("__Host-ne_csrf"))
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(cookie.split("; "))


async def test_a_form_without_its_csrf_token_is_refused(running: ConsoleEngine) -> None:
    made = await running.create_service()
    sid = made["service"]["id"]
    await running.set_roles(sid, await running.add_user(LEAD), ["manage_api_keys"])
    async with Visitor(running) as v:
        await v.get("/console/sign-in")
        r = await v.post("/console/sign-in", {"email": LEAD, "password": PASSWORD}, csrf=False)
        assert r.status_code == 403
        assert "This form has expired" in r.text
        r = await v.post("/console/sign-in", {"email": LEAD, "password": PASSWORD,
                                              "csrf_token": "x" * 43}, csrf=False)  # fmt: skip
        assert r.status_code == 403
        assert (await v.sign_in(running, LEAD)).status_code == 303
        keys = await running.engine.store.keys.for_service(made["service"]["id"])
        path = f"/console/services/{sid}/api-keys/{keys[0]['id']}/revoke"
        r = await v.post(path, {}, csrf=False)
        assert r.status_code == 403
        r = await v.client.post(
            path,
            data={"csrf_token": v.csrf},
            headers={**v._headers(), "origin": "https://evil.example"},
        )
        assert r.status_code == 403  # the right token from another site's page
        still = await running.engine.store.keys.for_service(made["service"]["id"])
        assert still[0]["expiry_date"] is None
        r = await v.post(path, {})
        assert r.status_code == 303  # the same request with its token goes through


async def test_a_viewer_cannot_reach_a_managers_action(running: ConsoleEngine) -> None:
    made = await running.create_service()
    other = await running.create_service(name="Someone else's")
    sid = made["service"]["id"]
    await running.set_roles(sid, await running.add_user(VIEWER), ["view"])
    keys = await running.engine.store.keys.for_service(made["service"]["id"])
    async with Visitor(running) as v:
        assert (await v.sign_in(running, VIEWER)).status_code == 303
        r = await v.get(f"/console/services/{sid}")
        assert r.status_code == 200
        # the navigation shows a viewer only what a viewer may open
        assert f'href="/console/services/{sid}/templates"' in r.text
        assert f'href="/console/services/{sid}/api-keys"' not in r.text
        r = await v.get(f"/console/services/{sid}/api-keys")
        assert r.status_code == 403
        assert "You cannot do this" in r.text
        r = await v.post(f"/console/services/{sid}/api-keys/{keys[0]['id']}/revoke", {})
        assert r.status_code == 403
        assert (await v.get(f"/console/services/{other['service']['id']}")).status_code == 404
    after = await running.engine.store.keys.for_service(made["service"]["id"])
    assert all(k["expiry_date"] is None for k in after)


async def test_a_session_expires(running: ConsoleEngine) -> None:
    made = await running.create_service()
    sid = made["service"]["id"]
    await running.set_roles(sid, await running.add_user(LEAD), ["view"])
    async with Visitor(running) as v:
        assert (await v.sign_in(running, LEAD)).status_code == 303
        running.clock.advance(hours=console.SESSION_HOURS, minutes=-1)
        assert (await v.get(f"/console/services/{sid}")).status_code == 200
        running.clock.advance(minutes=2)
        r = await v.get(f"/console/services/{sid}")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/sign-in")
    async with Visitor(running) as v:  # the emailed code expires too
        await v.get("/console/sign-in")
        r = await v.post("/console/sign-in", {"email": LEAD, "password": PASSWORD})
        sessions = await sql.fetch(running.engine.store, "SELECT verified FROM console_sessions")
        assert [s["verified"] for s in sessions] == [False]  # the expired one went
        code = await running.last_code(LEAD)
        running.clock.advance(minutes=console.CODE_MINUTES, seconds=1)
        r = await v.post("/console/two-factor", {"code": code})
        assert r.status_code == 303
        assert r.headers["location"] == "/console/sign-in"


async def test_sign_in_attempts_are_limited(running: ConsoleEngine) -> None:
    await running.add_user(LEAD)
    async with Visitor(running) as v:
        await v.get("/console/sign-in")
        answers = [
            (await v.post("/console/sign-in", {"email": LEAD, "password": f"wrong {i}"}))
            .status_code for i in range(console.MAX_ATTEMPTS)
        ]  # fmt: skip
        assert answers == [401] * (console.MAX_ATTEMPTS - 1) + [429]
        r = await v.post("/console/sign-in", {"email": LEAD, "password": PASSWORD})
        assert r.status_code == 429  # locked: even the right password
        assert "Too many attempts" in r.text
    async with Visitor(running) as other:  # another browser (or process): the same lock
        await other.get("/console/sign-in")
        r = await other.post("/console/sign-in", {"email": LEAD, "password": PASSWORD})
        assert r.status_code == 429
        running.clock.advance(minutes=console.LOCK_MINUTES, seconds=1)
        assert (await other.sign_in(running, LEAD)).status_code == 303


async def test_wrong_codes_count_towards_the_lock(running: ConsoleEngine) -> None:
    await running.add_user(LEAD)
    async with Visitor(running) as v:
        await v.get("/console/sign-in")
        await v.post("/console/sign-in", {"email": LEAD, "password": PASSWORD})
        right = await running.last_code(LEAD)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        answers = [(await v.post("/console/two-factor", {"code": wrong})).status_code
                   for _ in range(console.MAX_ATTEMPTS)]  # fmt: skip
        assert answers == [401] * (console.MAX_ATTEMPTS - 1) + [429]
        r = await v.post("/console/two-factor", {"code": right})
        assert r.status_code == 303
        assert r.headers["location"] == "/console/sign-in"  # the pending session is gone


async def test_the_admin_api_makes_console_users(running: ConsoleEngine) -> None:
    async with running.admin() as a:
        body = {"email_address": "Ops@Example.com", "name": "Ops", "password": PASSWORD,
                "platform_admin": True}  # fmt: skip
        r = await a.post("/admin/console-users", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["email_address"] == "ops@example.com"
        assert (await a.post("/admin/console-users", json=body)).status_code == 409
        short = {**body, "email_address": "b@example.com", "password": "short"}
        r = await a.post("/admin/console-users", json=short)
        assert r.status_code == 400
        assert "at least 12 characters" in r.text
    stored = await sql.fetch(running.engine.store, "SELECT * FROM console_users")
    assert "ops@example.com" not in repr(stored)  # sealed, found through a keyed hash
    assert "'Ops'" not in repr(stored)
    made = await running.create_service(name="Seen by the operator")
    async with Visitor(running) as v:  # a platform admin sees every service (not the system's)
        assert (await v.sign_in(running, "ops@example.com")).status_code == 303
        r = await v.get("/console/services")
        assert "Seen by the operator" in r.text
        assert (
            await v.get(f"/console/services/{made['service']['id']}/api-keys")
        ).status_code == 200
    async with running.client() as anonymous:
        r = await anonymous.post("/admin/console-users", json=body)
        assert r.status_code == 401

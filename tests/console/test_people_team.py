"""The console's team and invitations over real sockets (issue 27): a manager invites an
address, the engine's system service emails the link, the invitee sets a name and password
and signs in as a member with the invited roles; links expire and work once; inviting again
replaces the link; a member without ``manage_settings`` cannot invite; roles are changed
and members removed, but never the team's last manager."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from engine.domain import console, console_people
from tests import sql
from tests.console.support import PASSWORD, ConsoleEngine, Visitor, console_engine
from tests.console.support_people import invite_link, post_pairs

LEAD = "lead@department.example"
NEWCOMER = "Newcomer@Department.example"
MEMBER = "member@department.example"


@pytest.fixture
async def running(aio_loop: None, database_url: str) -> AsyncIterator[ConsoleEngine]:
    async with console_engine(database_url) as r:
        yield r


async def _service_with_lead(running: ConsoleEngine) -> tuple[str, str]:
    made = await running.create_service(name="Passport office")
    sid = made["service"]["id"]
    lead = await running.add_user(LEAD)
    await running.set_roles(sid, lead, ["view", "manage_settings"])
    return sid, lead


async def _roles(running: ConsoleEngine, user: str, sid: str) -> frozenset[str]:
    return await running.engine.store.console.roles(uuid.UUID(user), uuid.UUID(sid))


async def _invite(v: Visitor, sid: str, email: str, roles: list[str]) -> None:
    await v.get(f"/console/services/{sid}/team/invite")
    pairs = [("email", email), *(("roles", r) for r in roles)]
    r = await post_pairs(v, f"/console/services/{sid}/team/invite", pairs)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/services/{sid}/team?done=invited"


async def test_an_invitation_is_emailed_accepted_once_and_gives_its_roles(
    running: ConsoleEngine,
) -> None:
    sid, _ = await _service_with_lead(running)
    async with Visitor(running) as lead:
        assert (await lead.sign_in(running, LEAD)).status_code == 303
        await _invite(lead, sid, NEWCOMER, ["send", "manage_templates"])
        r = await lead.get(f"/console/services/{sid}/team?done=invited")
        assert "The invitation is sent." in r.text
        assert "newcomer@department.example" in r.text  # pending, shown to the manager
        assert "Send messages" in r.text
    stored = await sql.fetch(running.engine.store, "SELECT * FROM console_invitations")
    assert len(stored) == 1
    assert "newcomer@department.example" not in repr(stored)  # sealed, found by keyed hash
    link = await invite_link(running, "newcomer@department.example")
    token = link.rsplit("/", 1)[1]
    assert console_people.INVITE_HOURS == 48
    assert bytes(stored[0]["token_hash"]) == console.digest(token)  # only its SHA-256 is kept
    async with Visitor(running) as newcomer:
        r = await newcomer.get(link)
        assert r.status_code == 200, r.text
        assert "Join Passport office" in r.text
        r = await newcomer.post(link, {"name": "Nadia", "password": "short"})
        assert r.status_code == 400
        assert "at least 12 characters" in r.text
        r = await newcomer.post(link, {"name": "Nadia", "password": PASSWORD})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/console/sign-in?joined=1"
        assert "Your account is ready" in (await newcomer.get(r.headers["location"])).text
        r = await newcomer.get(link)  # used once: gone
        assert r.status_code == 404
        assert "This invitation no longer works" in r.text
        r = await newcomer.post(link, {"name": "Mallory", "password": PASSWORD * 2})
        assert r.status_code == 404
        assert (await newcomer.sign_in(running, "newcomer@department.example")).status_code == 303
        r = await newcomer.get(f"/console/services/{sid}/templates")
        assert r.status_code == 200  # a member now
        assert (await newcomer.get(f"/console/services/{sid}/team/invite")).status_code == 403
    roles = await sql.fetch(
        running.engine.store,
        "SELECT roles FROM console_memberships m JOIN console_users u ON u.id = m.user_id"
        " WHERE NOT EXISTS (SELECT 1 FROM console_memberships x WHERE x.user_id = u.id"
        " AND 'manage_settings' = ANY(x.roles))",
    )
    assert [r["roles"] for r in roles] == [["view", "send", "manage_templates"]]
    assert await sql.fetch(running.engine.store, "SELECT 1 FROM console_invitations") == []


async def test_an_invitation_expires(running: ConsoleEngine) -> None:
    sid, _ = await _service_with_lead(running)
    async with Visitor(running) as lead:
        assert (await lead.sign_in(running, LEAD)).status_code == 303
        await _invite(lead, sid, MEMBER, [])
    link = await invite_link(running, MEMBER)
    running.clock.advance(hours=console_people.INVITE_HOURS, seconds=1)
    async with Visitor(running) as late:
        assert (await late.get(link)).status_code == 404
        await late.get("/console/sign-in")  # a form's CSRF token
        r = await late.post(link, {"name": "Late", "password": PASSWORD})
        assert r.status_code == 404
    assert await running.engine.store.console.user_by_email(MEMBER) is None


async def test_inviting_again_replaces_the_link_and_cancelling_works(
    running: ConsoleEngine,
) -> None:
    sid, _ = await _service_with_lead(running)
    async with Visitor(running) as lead:
        assert (await lead.sign_in(running, LEAD)).status_code == 303
        await _invite(lead, sid, MEMBER, ["send"])
        first = await invite_link(running, MEMBER)
        await _invite(lead, sid, MEMBER, ["manage_api_keys"])
        second = await invite_link(running, MEMBER)
        assert first != second
        [row] = await sql.fetch(running.engine.store, "SELECT id, roles FROM console_invitations")
        assert row["roles"] == ["view", "manage_api_keys"]
        async with Visitor(running) as other:
            assert (await other.get(first)).status_code == 404
            assert (await other.get(second)).status_code == 200
        r = await lead.post(f"/console/services/{sid}/team/invitations/{row['id']}/cancel", {})
        assert r.status_code == 303
        assert "The invitation is cancelled." in (await lead.get(r.headers["location"])).text
        async with Visitor(running) as other:
            assert (await other.get(second)).status_code == 404


async def test_an_existing_account_signs_in_to_accept(running: ConsoleEngine) -> None:
    sid, _ = await _service_with_lead(running)
    await running.add_user(MEMBER)
    async with Visitor(running) as lead:
        assert (await lead.sign_in(running, LEAD)).status_code == 303
        await _invite(lead, sid, MEMBER, ["send"])
    link = await invite_link(running, MEMBER)
    async with Visitor(running) as member:
        r = await member.get(link)
        assert "Sign in with it to accept" in r.text
        assert (await member.post(link, {})).status_code == 403  # not signed in as them
        assert (await member.sign_in(running, MEMBER)).status_code == 303
        r = await member.get(link)
        assert "Accept the invitation" in r.text
        r = await member.post(link, {})
        assert r.status_code == 303
        assert r.headers["location"] == f"/console/services/{sid}"
        assert (await member.get(f"/console/services/{sid}")).status_code == 200


async def test_only_a_manager_invites(running: ConsoleEngine) -> None:
    sid, lead = await _service_with_lead(running)
    await running.set_roles(sid, await running.add_user(MEMBER), ["send", "manage_templates"])
    async with Visitor(running) as member:
        assert (await member.sign_in(running, MEMBER)).status_code == 303
        r = await member.get(f"/console/services/{sid}/team")
        assert r.status_code == 200  # a member sees the team
        assert "lead@department.example" in r.text
        assert "/team/invite" not in r.text
        assert (await member.get(f"/console/services/{sid}/team/invite")).status_code == 403
        r = await member.post(f"/console/services/{sid}/team/invite",
                              {"email": "x@department.example"})  # fmt: skip
        assert r.status_code == 403
        r = await member.post(f"/console/services/{sid}/team/members/{lead}/remove", {})
        assert r.status_code == 403
        r = await member.post(f"/console/services/{sid}/team/members/{lead}", {"roles": "send"})
        assert r.status_code == 403
    assert await sql.fetch(running.engine.store, "SELECT 1 FROM console_invitations") == []
    assert await _roles(running, lead, sid) == {"view", "manage_settings"}


async def test_roles_change_members_go_and_the_last_manager_stays(
    running: ConsoleEngine,
) -> None:
    sid, lead = await _service_with_lead(running)
    member = await running.add_user(MEMBER)
    await running.set_roles(sid, member, ["send"])
    async with Visitor(running) as v:
        assert (await v.sign_in(running, LEAD)).status_code == 303
        base = f"/console/services/{sid}/team/members"
        r = await v.get(f"{base}/{member}")
        assert r.status_code == 200
        assert "Change Member&#39;s roles" in r.text or "Change Member's roles" in r.text
        r = await v.post(f"{base}/{member}", {"roles": "manage_settings"})
        assert r.status_code == 303
        assert await _roles(running, member, sid) == {"view", "manage_settings"}
        # two managers: the lead may step down; then the member is the last one
        r = await v.post(f"{base}/{lead}", {"roles": "send"})
        assert r.status_code == 303
        await running.set_roles(sid, lead, ["manage_settings"])
        r = await v.post(f"{base}/{member}/remove", {})
        assert r.status_code == 303
        assert "The member is removed." in (await v.get(r.headers["location"])).text
        assert await _roles(running, member, sid) == frozenset()
        r = await v.post(f"{base}/{lead}", {"roles": "send"})  # the last manager
        assert r.status_code == 409
        assert "at least one member who manages settings" in r.text
        r = await v.post(f"{base}/{lead}/remove", {})
        assert r.status_code == 409
        r = await v.get(f"/console/services/{sid}/team")
        assert "Lead (you)" in r.text
        assert "Manage settings and the team" in r.text
        r = await v.get(f"/console/language/fr?next=/console/services/{sid}/team")
        r = await v.get(f"/console/services/{sid}/team")
        assert "<h1>Équipe</h1>" in r.text
        assert "Gérer les paramètres et l&#39;équipe" in r.text


async def test_a_platform_admin_invites_to_any_service(running: ConsoleEngine) -> None:
    made = await running.create_service(name="No members yet")
    sid = made["service"]["id"]
    await running.add_user("ops@department.example", platform_admin=True)
    async with Visitor(running) as ops:
        assert (await ops.sign_in(running, "ops@department.example")).status_code == 303
        await _invite(ops, sid, MEMBER, ["manage_settings"])
    link = await invite_link(running, MEMBER)
    async with Visitor(running) as member:
        await member.get(link)
        r = await member.post(link, {"name": "First Manager", "password": PASSWORD})
        assert r.status_code == 303
    user = await running.engine.store.console.user_by_email(MEMBER)
    assert user is not None
    assert await _roles(running, str(user["id"]), sid) == {"view", "manage_settings"}

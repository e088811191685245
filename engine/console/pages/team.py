"""A service's team: its members and their roles, pending invitations, inviting someone by
email, and accepting an invitation (``engine.domain.console_people`` has the rules).

Rules:
- A member with ``view`` sees the team; changing it (inviting, cancelling an invitation,
  changing roles, removing someone) takes ``manage_settings`` (or a platform admin).
- The invitation is emailed by the engine's system service (``engine.console.mail``); its
  link is ``/console/invitations/<token>``, the token kept only as its SHA-256.
- Accepting: a new address sets a name and a password (``MIN_PASSWORD``, argon2 off the
  event loop) and then signs in with the second factor as everyone does; an address that
  already has an account must be signed in as it, and presses Accept. The invitation is
  deleted as it is used (once), and the member gets the invitation's roles.
- The team keeps a ``manage_settings`` member: a change that would leave none is refused
  (409), the last manager's own included.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import trio

from engine.api.http import Response
from engine.api.router import Router
from engine.console import mail, web
from engine.console.app import PREFIX, Ctx, not_found, service_page
from engine.domain import console, console_people
from engine.domain.console import ROLES
from engine.domain.recipients import InvalidRecipient, validate_email_address

if TYPE_CHECKING:
    from engine.console.pages import Wrap
    from engine.store.rows import Row

_TEAM = PREFIX + "/services/{service_id}/team"
NOTICES = ("invited", "cancelled", "changed", "removed")


def add_routes(r: Router, wrap: Wrap) -> None:
    r.add("GET", _TEAM, wrap(team))
    r.add("GET", f"{_TEAM}/invite", wrap(invite_form))
    r.add("POST", f"{_TEAM}/invite", wrap(invite))
    r.add("POST", f"{_TEAM}/invitations/{{invitation_id}}/cancel", wrap(cancel))
    r.add("GET", f"{_TEAM}/members/{{user_id}}", wrap(member_form))
    r.add("POST", f"{_TEAM}/members/{{user_id}}", wrap(change_member))
    r.add("POST", f"{_TEAM}/members/{{user_id}}/remove", wrap(remove_member))
    r.add("GET", f"{PREFIX}/invitations/{{token}}", wrap(invitation))
    r.add("POST", f"{PREFIX}/invitations/{{token}}", wrap(accept))


def _path(service: Row, rest: str = "") -> str:
    return f"{PREFIX}/services/{service['id']}/team{rest}"


def _param(c: Ctx, name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(c.request.path_params[name])
    except ValueError:
        return None


def _roles_of(fields: dict[str, list[str]]) -> list[str] | None:
    return console_people.clean_roles(fields.get("roles", []))


def _fields(c: Ctx) -> dict[str, list[str]]:
    """Every value of each field (the role checkboxes repeat ``roles``)."""
    return parse_qs(c.request.body.decode("utf-8", "replace"), keep_blank_values=True)


@service_page("view")
async def team(c: Ctx, service: Row) -> Response:
    assert c.user is not None
    people = c.deps.store.console_people
    roles = await c.deps.store.console.roles(c.user["user_id"], service["id"])
    manager = console.has_role(roles, c.user["platform_admin"], "manage_settings")
    done = c.request.query().get("done", [""])[0]
    return c.render(200, "team.html", service=service, section="team",
                    members=await people.members(service["id"]),
                    invitations=await people.invitations(service["id"]) if manager else [],
                    manager=manager, now=c.now, roles=ROLES,
                    done=done if done in NOTICES else None)  # fmt: skip


def _invite_page(
    c: Ctx, service: Row, status: int, error: str | None, email: str = "",
    chosen: list[str] | None = None,
) -> Response:  # fmt: skip
    return c.render(status, "team_invite.html", service=service, section="team", error=error,
                    email=email, roles=ROLES, chosen=chosen or ["view"],
                    hours=console_people.INVITE_HOURS)  # fmt: skip


@service_page("manage_settings")
async def invite_form(c: Ctx, service: Row) -> Response:
    return _invite_page(c, service, 200, None)


@service_page("manage_settings")
async def invite(c: Ctx, service: Row) -> Response:
    assert c.user is not None
    fields = _fields(c)
    given = fields.get("email", [""])[0].strip()
    roles = _roles_of(fields)
    try:
        email = validate_email_address(given).lower()
    except InvalidRecipient:
        return _invite_page(c, service, 400, c.t("team_bad_email"), given, roles)
    if roles is None:
        return _invite_page(c, service, 400, c.t("team_bad_roles"), given)
    token = console.new_token()
    await c.deps.store.console_people.invite(
        service["id"], email, roles, console.digest(token), c.user["user_id"],
        console_people.invite_expiry(c.now),
    )  # fmt: skip
    url = c.request.base_url(c.deps.settings.public_url) + console_people.invite_path(token)
    await mail.send_invitation(c.deps, email, service_name=service["name"],
                               inviter=c.user["name"], url=url)  # fmt: skip
    return c.redirect(_path(service, "?done=invited"))


@service_page("manage_settings")
async def cancel(c: Ctx, service: Row) -> Response:
    invitation_id = _param(c, "invitation_id")
    if invitation_id is None or not await c.deps.store.console_people.cancel_invitation(
        service["id"], invitation_id
    ):
        return not_found(c)
    return c.redirect(_path(service, "?done=cancelled"))


async def _member(c: Ctx, service: Row) -> tuple[Row | None, list[Row]]:
    user_id = _param(c, "user_id")
    members = await c.deps.store.console_people.members(service["id"])
    return next((m for m in members if m["id"] == user_id), None), members


def _member_page(c: Ctx, service: Row, member: Row, status: int, error: str | None) -> Response:
    return c.render(status, "team_member.html", service=service, section="team",
                    member=member, roles=ROLES, error=error)  # fmt: skip


@service_page("manage_settings")
async def member_form(c: Ctx, service: Row) -> Response:
    member, _ = await _member(c, service)
    if member is None:
        return not_found(c)
    return _member_page(c, service, member, 200, None)


def _keeps_a_manager(members: list[Row], member: Row, roles: list[str] | None) -> bool:
    team = {m["id"]: frozenset(m["roles"]) for m in members}
    return console_people.keeps_a_manager(
        team, member["id"], None if roles is None else frozenset(roles)
    )


@service_page("manage_settings")
async def change_member(c: Ctx, service: Row) -> Response:
    member, members = await _member(c, service)
    if member is None:
        return not_found(c)
    roles = _roles_of(_fields(c))
    if roles is None:
        return _member_page(c, service, member, 400, c.t("team_bad_roles"))
    if not _keeps_a_manager(members, member, roles):
        return _member_page(c, service, member, 409, c.t("team_last_manager"))
    await c.deps.store.console_people.change_roles(service["id"], member["id"], roles)
    return c.redirect(_path(service, "?done=changed"))


@service_page("manage_settings")
async def remove_member(c: Ctx, service: Row) -> Response:
    member, members = await _member(c, service)
    if member is None:
        return not_found(c)
    if not _keeps_a_manager(members, member, None):
        return _member_page(c, service, member, 409, c.t("team_last_manager"))
    await c.deps.store.console_people.remove_member(service["id"], member["id"])
    return c.redirect(_path(service, "?done=removed"))


# -- accepting an invitation (signed in or not) -----------------------------------------------


async def _invitation_page(c: Ctx, status: int, error: str | None = None,
                           name: str = "") -> Response:  # fmt: skip
    token = c.request.path_params["token"]
    found = await c.deps.store.console_people.invitation(console.digest(token), c.now)
    if found is None:
        return c.render(404, "error.html", title=c.t("invite_gone_title"),
                        message=c.t("invite_gone"))  # fmt: skip
    account = await c.deps.store.console.user_by_email(found["email"])
    mine = c.user is not None and c.user["email"].lower() == found["email"]
    return c.render(status, "invitation.html", invitation=found, has_account=account is not None,
                    mine=mine, error=error, name=name, token=token,
                    minimum=console.MIN_PASSWORD)  # fmt: skip


async def invitation(c: Ctx) -> Response:
    return await _invitation_page(c, 200)


async def accept(c: Ctx) -> Response:
    token = c.request.path_params["token"]
    people, users = c.deps.store.console_people, c.deps.store.console
    found = await people.invitation(console.digest(token), c.now)
    if found is None:
        return await _invitation_page(c, 404)
    account = await users.user_by_email(found["email"])
    if account is not None:  # an existing account joins, signed in as itself
        if c.user is None or c.user["user_id"] != account["id"]:
            return await _invitation_page(c, 403)
        taken = await people.take_invitation(console.digest(token), c.now)
        if taken is None:
            return await _invitation_page(c, 404)
        await users.set_roles(account["id"], taken["service_id"], list(taken["roles"]))
        return c.redirect(f"{PREFIX}/services/{taken['service_id']}")
    fields = web.form(c.request)
    name, password = fields.get("name", "").strip(), fields.get("password", "")
    if not name:
        return await _invitation_page(c, 400, c.t("invite_no_name"), name)
    if len(password) < console.MIN_PASSWORD:
        return await _invitation_page(
            c, 400, c.t("invite_short_password", minimum=console.MIN_PASSWORD), name
        )
    hashed = await trio.to_thread.run_sync(console.hash_password, password)
    taken = await people.take_invitation(console.digest(token), c.now)
    if taken is None:
        return await _invitation_page(c, 404)
    user_id = uuid.uuid4()
    if not await users.create_user(user_id, taken["email"], name, hashed, False):
        return await _invitation_page(c, 409)  # the address got an account meanwhile
    await users.set_roles(user_id, taken["service_id"], list(taken["roles"]))
    return c.redirect(f"{PREFIX}/sign-in?joined=1")

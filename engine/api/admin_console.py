"""The admin API's part of the web console (issue 27): console users and their roles.

``POST /admin/console-users`` creates a person (``platform_admin`` for the operator);
``PUT /admin/services/{service_id}/console-users/{user_id}`` sets their roles in a service.
Behind the admin token like every /admin route (``engine.api.admin.authorize``). The
password is hashed with argon2 off the event loop (``engine.domain.console``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec
import trio

from engine.api.admin import _decode, _service_id
from engine.api.errors import ApiError, NotFoundError, ValidationError
from engine.api.http import Request, Response, json_response
from engine.domain import console
from engine.domain.recipients import InvalidRecipient, validate_email_address

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps


class NewConsoleUser(msgspec.Struct, forbid_unknown_fields=True):
    email_address: str
    name: str
    password: str
    platform_admin: bool = False


class ConsoleRoles(msgspec.Struct, forbid_unknown_fields=True):
    roles: list[str]


async def create_console_user(deps: ApiDeps, request: Request) -> Response:
    body: NewConsoleUser = _decode(request, NewConsoleUser)
    try:
        email = validate_email_address(body.email_address)
    except InvalidRecipient as exc:
        raise ValidationError([exc.message]) from None
    if len(body.password) < console.MIN_PASSWORD:
        raise ValidationError([f"password must be at least {console.MIN_PASSWORD} characters"])
    if not body.name.strip():
        raise ValidationError(["name is required"])
    hashed = await trio.to_thread.run_sync(console.hash_password, body.password)
    user_id = uuid.uuid4()
    created = await deps.store.console.create_user(
        user_id, email, body.name.strip(), hashed, body.platform_admin
    )
    if not created:
        raise ApiError("A console user with this email address already exists", status_code=409)
    return json_response(201, {
        "id": str(user_id), "email_address": email.lower(), "name": body.name.strip(),
        "platform_admin": body.platform_admin,
    })  # fmt: skip


async def set_console_roles(deps: ApiDeps, request: Request) -> Response:
    service_id = await _service_id(deps, request)
    try:
        user_id = uuid.UUID(request.path_params["user_id"])
    except ValueError:
        raise ValidationError(["user_id is not a valid UUID"]) from None
    body: ConsoleRoles = _decode(request, ConsoleRoles)
    unknown = sorted(set(body.roles) - set(console.ROLES))
    if unknown:
        raise ValidationError([f"roles must be among {', '.join(console.ROLES)}"])
    roles = sorted(set(body.roles) | {"view"}, key=console.ROLES.index)
    if not await deps.store.console.user_exists(user_id):
        raise NotFoundError()
    await deps.store.console.set_roles(user_id, service_id, roles)
    return json_response(200, {
        "user_id": str(user_id), "service_id": str(service_id), "roles": roles,
    })  # fmt: skip

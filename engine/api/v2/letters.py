"""POST /v2/notifications/letter: letters are not offered; answered as GC Notify answers a
service without the letter permission.

GC's order (cds-snc/notification-api ``post_notifications``): a body with ``content`` is a
precompiled letter, held to that schema; any other body is held to the letter schema
(``template_id``, and ``personalisation`` with ``address_line_1``, ``address_line_2`` and
``postcode``); every violation is listed at once (``engine.api.v2.schema`` wording). A
suspended service is then refused (403, template letters only, as GC). Otherwise 400
``Service is not allowed to send letters``: nothing is stored or sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import BadRequestError, ValidationError
from engine.api.http import Request, Response
from engine.api.limits import check_body
from engine.api.v2.schema import is_uuid, json_type, render_value
from engine.domain import admission

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

NOT_ALLOWED = "Service is not allowed to send letters"
ADDRESS = ("address_line_1", "address_line_2", "postcode")
_LETTER_FIELDS = ("reference", "template_id", "personalisation")
_PRECOMPILED_FIELDS = ("reference", "content", "postage")


def letter_errors(body: object) -> list[str]:
    """GC's letter schemas' violations, in the order its JSON-schema validation gives them
    (each property in the schema's order, then missing properties, then extra ones)."""
    if not isinstance(body, dict):
        return [f"{render_value(body)} is not of type object"]
    precompiled = "content" in body
    fields = _PRECOMPILED_FIELDS if precompiled else _LETTER_FIELDS
    errors: list[str] = []
    for name in fields:
        if name not in body:
            continue
        value = body[name]
        if name == "template_id":
            if not is_uuid(value):
                errors.append("template_id is not a valid UUID")
        elif name == "personalisation":
            errors += _address_errors(value)
        elif name == "postage" and value not in ("first", "second"):
            errors.append(
                f"postage {render_value(value)} is not of type string"
                if not isinstance(value, str)
                else "postage invalid. It must be either first or second."
            )
        elif name != "postage" and not isinstance(value, str):
            errors.append(f"{name} {render_value(value)} is not of type string")
    required = ("reference", "content") if precompiled else ("template_id", "personalisation")
    errors += [f"{name} is a required property" for name in required if name not in body]
    unexpected = [k for k in body if k not in fields]
    if unexpected:
        verb = "was" if len(unexpected) == 1 else "were"
        errors.append(f"Additional properties are not allowed ({', '.join(unexpected)} {verb} "
                      "unexpected)")  # fmt: skip
    return list(dict.fromkeys(errors))


def _address_errors(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"personalisation {render_value(value)} is not of type object"]
    errors = [
        f"personalisation {name} is required"
        for name in ADDRESS
        if name in value and (json_type(value[name]) != "string" or not value[name])
    ]
    return errors + [
        f"personalisation {name} is a required property" for name in ADDRESS if name not in value
    ]


async def post_letter(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    check_body(request.body)
    try:
        body = msgspec.json.decode(request.body)
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"Error decoding arguments: {exc}") from None
    errors = letter_errors(body)
    if errors:
        raise ValidationError(errors)
    if "content" not in body:
        admission.check_active(ctx.bundle.service)
    raise BadRequestError(NOT_ALLOWED)

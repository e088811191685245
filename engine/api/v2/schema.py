"""Request validation with Notify's messages (contract section 1.11).

The fast path decodes a request straight into its msgspec Struct. When that fails, the body
is decoded generically and checked against a small field spec here, so the client gets
every violation at once, worded as Notify words them (``template_id is a required
property``, ``Additional properties are not allowed (foo was unexpected)``,
``personalisation 5 is not of type object``). Pure functions only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.api.errors import BadRequestError, ValidationError
from engine.api.limits import check_body

# field -> (JSON type names allowed, required); "uuid" is a string named by Notify's ``uuid``
# definition, whose every violation reads "<field> is not a valid UUID".
FieldSpec = Mapping[str, tuple[tuple[str, ...], bool]]

_JSON_TYPE = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    type(None): "null",
}


def json_type(value: object) -> str:
    return _JSON_TYPE.get(type(value), "object")


def render_value(value: object) -> str:
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def schema_errors(body: object, spec: FieldSpec) -> list[str]:
    """Every violation, in the order Notify's JSON-schema validation lists them: each
    property present, in the schema's order (``spec``'s), then the missing ones, then the
    unexpected ones (jsonschema's ``iter_errors`` walks ``properties``, ``required``,
    ``additionalProperties`` in that order)."""
    if not isinstance(body, dict):
        return [f"{render_value(body)} is not of type object"]
    errors: list[str] = []
    for name, (types, _required) in spec.items():
        if name not in body:
            continue
        value = body[name]
        kind = json_type(value)
        if types[0] == "uuid":
            if not (kind == "null" and "null" in types) and not is_uuid(value):
                errors.append(f"{name} is not a valid UUID")
            continue
        if kind == "integer" and "number" in types:
            continue
        if kind not in types:
            wanted = types[0] if len(types) == 1 or types[1] == "null" else ", ".join(types)
            errors.append(f"{name} {render_value(value)} is not of type {wanted}")
    for name, (_types, required) in spec.items():
        if required and name not in body:
            errors.append(f"{name} is a required property")
    unexpected = [k for k in body if k not in spec]
    if unexpected:
        names = ", ".join(unexpected)
        verb = "was" if len(unexpected) == 1 else "were"
        errors.append(f"Additional properties are not allowed ({names} {verb} unexpected)")
    return errors


def decode_or_explain(body: bytes, decoder: msgspec.json.Decoder[Any], spec: FieldSpec) -> Any:
    """Decode ``body`` with the endpoint's decoder, or raise Notify's validation errors.
    The body is first held to what the decoder and the database can take (``limits``)."""
    check_body(body)
    try:
        return decoder.decode(body)
    except msgspec.DecodeError:
        pass
    try:
        generic = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"Error decoding arguments: {exc}") from None
    errors = schema_errors(generic, spec)
    if not errors:
        # Types matched the spec but msgspec still refused (e.g. a nested type): say so.
        try:
            decoder.decode(body)
        except msgspec.ValidationError as exc:
            errors = [str(exc)]
    raise ValidationError(errors)


def is_uuid(value: object) -> bool:
    """A string that is a UUID (the schemas' ``uuid`` type)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def parse_uuid(value: str, field: str, errors: list[str]) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        errors.append(f"{field} is not a valid UUID")
        return None

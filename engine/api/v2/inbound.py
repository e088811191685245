"""GET /v2/received-text-messages[?older_than=<uuid>] (contract section 1.9).

The engine has no inbound SMS yet, so every service has none: the answer is an empty
``received_text_messages`` list with ``links.current`` (``links.next`` appears only on a
non-empty page, which is what ends the official clients' iterators). The query is still
validated as Notify validates it, so a client's mistakes surface today, not later.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import ValidationError
from engine.api.http import Request, Response
from engine.api.limits import query_args
from engine.api.v2.get_notifications import Links

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps


class ReceivedText(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    created_at: str
    service_id: str
    notify_number: str
    user_number: str
    content: str


class ReceivedTextList(msgspec.Struct, frozen=True):
    received_text_messages: list[ReceivedText]
    links: Links


_encode = msgspec.json.Encoder().encode


def parse_args(query: dict[str, list[str]]) -> list[str]:
    errors: list[str] = []
    unexpected = [k for k in query if k != "older_than"]
    if unexpected:
        verb = "was" if len(unexpected) == 1 else "were"
        errors.append(
            f"Additional properties are not allowed ({', '.join(unexpected)} {verb} unexpected)"
        )
    for value in query.get("older_than", [])[:1]:
        try:
            uuid.UUID(value)
        except ValueError:
            errors.append("older_than is not a valid UUID")
    return errors


async def list_received_texts(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    query = query_args(request)
    errors = parse_args(query)
    if errors:
        raise ValidationError(errors)
    base = request.base_url(deps.settings.public_url)
    args = [(k, v) for k, vs in query.items() for v in vs]
    current = f"{base}v2/received-text-messages" + ("?" + urlencode(args) if args else "")
    return Response(200, _encode(ReceivedTextList([], Links(current))))

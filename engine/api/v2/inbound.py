"""GET /v2/received-text-messages[?older_than=<uuid>] (contract section 1.9).

The texts the service received on its number (issue 24: ``engine.api.inbound_sms`` stores
them), newest first, ``PAGE_SIZE`` a page (GC's ``API_PAGE_SIZE``), ``older_than`` the id
of the last one seen. GC's shape: ``received_text_messages`` (id, created_at, service_id,
notify_number, user_number, content) and ``links``: ``current``, and ``next`` (older_than
the page's last id) only on a non-empty page, which is what ends the official clients'
iterators. The query is validated as Notify validates it.
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
from engine.domain.timestamps import format_ts

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
PAGE_SIZE = 250


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
    path = f"{base}v2/received-text-messages"
    current = path + ("?" + urlencode(args) if args else "")
    older = query.get("older_than", [])
    rows = await deps.store.inbound.page(
        ctx.bundle.service.id, uuid.UUID(older[0]) if older else None, PAGE_SIZE
    )
    texts = [
        ReceivedText(
            id=str(r["id"]),
            created_at=format_ts(r["created_at"]) or "",
            service_id=str(r["service_id"]),
            notify_number=r["notify_number"],
            user_number=r["user_number"],
            content=r["content"],
        )
        for r in rows
    ]
    next_link = f"{path}?{urlencode({'older_than': texts[-1].id})}" if texts else None
    return Response(200, _encode(ReceivedTextList(texts, Links(current, next_link))))

"""The ``Idempotency-Key`` header on every POST of the v2 API (issue 24, beyond GC and
GOV.UK), as the IETF draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header-06) specifies it.

Rules:
- Without the header nothing here runs: ``engine.api.app`` looks the header up in the
  request's header dict and calls the handler as before (the hot path's only cost).
- The key: a structured-field string (quoted, as the draft writes it) or the bare token,
  1 to 255 printable ASCII characters; anything else is a 400. It is scoped to the API
  key that sent it (``engine.store.idempotency``), and kept 24 h.
- The request's fingerprint is SHA-256 of its method, path and body. The same key with
  another fingerprint is refused with 422 (draft section 2.7), whatever the state of the
  first request.
- A retry while the first request is in flight gets 409 ``ConflictError`` (draft section
  2.7: "MUST reply with an HTTP 409"); it does not wait: a client that retries on
  a timeout would otherwise pile waiting requests behind a slow one. Once the first has
  answered, a retry gets the first answer (status and body, byte for byte) with the
  header ``Idempotent-Replayed: true``, and nothing is done or sent again (no rate limit
  taken either).
- Only answers below 300 are stored. An error (4xx, 5xx, an exception) releases the key:
  nothing was written, so a retry runs again (a 429 or 503 retried later can succeed).
- A notification POST commits its 201's answer in the notification's own transaction
  (``post_notification`` hands ``Pending.answer`` to ``Store.insert_notifications``): a
  committed 201 is always replayed and a replay never lacks its notification. Other POSTs
  (bulk, preview, simulated recipients) store the answer after the handler returns.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING

import trio

from engine.api.auth import AuthContext
from engine.api.errors import ApiError, BadRequestError
from engine.api.http import Request, Response
from engine.store.idempotency import Answer, Claimed, ClaimLost, InFlight, Stored

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from engine.api.deps import ApiDeps

HEADER = b"idempotency-key"
MAX_KEY = 255
IN_FLIGHT = "A request with this Idempotency-Key is still being processed: retry it later"
REUSED = "This Idempotency-Key was already used for a different request"
BAD_KEY = "Idempotency-Key must be 1 to 255 printable ASCII characters"


class Pending:
    """Our claim on a key while the handler runs."""

    __slots__ = ("committed", "ctx", "key", "token")

    def __init__(self, ctx: AuthContext, key: str, token: uuid.UUID) -> None:
        self.ctx = ctx
        self.key = key
        self.token = token
        self.committed = False

    def answer(self, status: int, body: bytes) -> Answer:
        return Answer(
            self.ctx.bundle.service.id, self.ctx.key.id, self.key, self.token, status, body
        )


def parse_key(raw: bytes) -> str:
    value = raw.decode("latin-1").strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not 0 < len(value) <= MAX_KEY or not all(" " <= c <= "~" for c in value):
        raise BadRequestError(BAD_KEY)
    return value


def fingerprint(request: Request) -> bytes:
    h = hashlib.sha256(request.method.encode())
    h.update(b" " + request.path.encode() + b"\n")
    h.update(request.body)
    return h.digest()


async def guarded(
    deps: ApiDeps,
    request: Request,
    ctx: AuthContext,
    raw: bytes,
    handler: Callable[[ApiDeps, Request, AuthContext], Awaitable[Response]],
) -> Response:
    key = parse_key(raw)
    mine = fingerprint(request)
    store = deps.store.idempotency
    service_id, key_id = ctx.bundle.service.id, ctx.key.id
    got = await store.claim(service_id, key_id, key, mine)
    if not isinstance(got, Claimed):
        if got.fingerprint and got.fingerprint != mine:  # (b"": a row that kept vanishing)
            raise ApiError(REUSED, status_code=422, wire_name="IdempotencyKeyReused")
        if isinstance(got, InFlight):
            raise ApiError(IN_FLIGHT, status_code=409, wire_name="ConflictError")
        assert isinstance(got, Stored)
        return Response(got.status, got.body, headers=[(b"idempotent-replayed", b"true")])
    pending = Pending(ctx, key, got.token)
    request.idempotency = pending
    try:
        response = await handler(deps, request, ctx)
        if response.status < 300 and not pending.committed:
            pending.committed = await store.complete(pending.answer(response.status, response.body))
    except ClaimLost:
        await _release(deps, pending)
        raise ApiError(IN_FLIGHT, status_code=409, wire_name="ConflictError") from None
    except BaseException:
        await _release(deps, pending)
        raise
    if not pending.committed:
        await _release(deps, pending)
    return response


async def _release(deps: ApiDeps, pending: Pending) -> None:
    # Shielded and bounded: a cancelled request still frees its key when it can; if it
    # cannot, the claim lapses after its lease (engine.store.idempotency).
    with trio.move_on_after(5) as scope:
        scope.shield = True
        try:
            await deps.store.idempotency.release(
                pending.ctx.bundle.service.id, pending.ctx.key.id, pending.key, pending.token
            )
        except Exception:  # the lease frees it; the request's own error is what matters
            return

"""Minimal request/response objects over ASGI: what the endpoint modules need, no more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec

from engine.http1.asgi import Message, Receive, Scope, Send

__all__ = [
    "JSON",
    "Message",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "StreamedResponse",
    "header_value",
    "json_response",
]

JSON = b"application/json"
_encode = msgspec.json.Encoder().encode


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case, as ASGI gives names)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Request:
    __slots__ = (
        "body",
        "headers",
        "idempotency",
        "method",
        "path",
        "path_params",
        "query_string",
        "scope",
    )

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        self.headers: dict[bytes, bytes] = dict(scope.get("headers", ()))
        self.body = body
        self.path_params: dict[str, str] = {}
        # An Idempotency-Key claim the handler may commit with its rows
        # (``engine.api.idempotency``); None without the header.
        self.idempotency: Any = None

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)

    def base_url(self, public_url: str = "") -> str:
        """Scheme and host the client used, ending in '/' (Flask's request.url_root)."""
        if public_url:
            return public_url.rstrip("/") + "/"
        host = self.header(b"host")
        if host is None:
            server = self.scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        scheme = self.header(b"x-forwarded-proto") or self.scope.get("scheme", "http")
        return f"{scheme}://{host}/"


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes = JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = [(b"content-type", content_type), *(headers or [])]

    async def send(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [*self.headers, (b"content-length", str(len(self.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


class StreamedResponse(Response):
    """A 200 whose body is sent as it is made (chunked): ``chunks`` yields its parts."""

    __slots__ = ("chunks",)

    def __init__(
        self,
        chunks: Callable[[], AsyncIterator[bytes]],
        content_type: bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(200, b"", content_type, headers)
        self.chunks = chunks

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        async for part in self.chunks():
            if part:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def json_response(status: int, obj: object) -> Response:
    return Response(status, _encode(obj))


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            from engine.api.errors import ApiError

            raise ApiError(
                f"Request body is larger than {limit} bytes",
                status_code=413,
                wire_name="RequestEntityTooLarge",
            )
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)

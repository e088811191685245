"""The built-in server's own errors (malformed, too large, slow, app crash) in the Notify
envelope: ``engine.api.app.server_error_body`` as ``python -m engine serve`` wires it."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest
import trio

from engine.api.app import server_error_body
from engine.http1.server import ServerLimits, serve


async def crashing_app(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("secret detail")


async def answer_to(raw: bytes) -> tuple[bytes, dict[str, Any]]:
    """Send ``raw`` to a server with a 100-byte body limit; the status line and JSON body."""
    limits = ServerLimits(max_body_bytes=100)
    async with trio.open_nursery() as nursery:
        shutdown = trio.Event()
        port = await nursery.start(partial(serve, crashing_app, host="127.0.0.1", port=0,
                                           limits=limits, shutdown=shutdown,
                                           error_body=server_error_body))  # fmt: skip
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(raw)
        data = b""
        while chunk := await stream.receive_some(65_536):
            data += chunk
        await stream.aclose()
        shutdown.set()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"\r\ncontent-type: application/json\r\n" in head
    return head.split(b"\r\n")[0], json.loads(body)


@pytest.mark.parametrize(
    ("raw", "status", "name", "message"),
    [
        (b"NOT HTTP\r\n\r\n", 400, "BadRequest", "Malformed request"),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", 413,
         "RequestEntityTooLarge", "Request body is larger than 100 bytes"),
        (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 500, "Exception", "Internal server error"),
    ],
    ids=["400", "413", "500"],
)  # fmt: skip
async def test_server_errors_are_notify_envelopes(
    raw: bytes, status: int, name: str, message: str
) -> None:
    with trio.fail_after(10):
        line, body = await answer_to(raw)
    assert line.startswith(b"HTTP/1.1 %d " % status)
    assert body == {"status_code": status, "errors": [{"error": name, "message": message}]}

"""Both clients (the callback client and the AWS session) against real servers of several
kinds on 127.0.0.1, for RFC 9112 response framing: Python's ``http.server`` (HTTP/1.0, body
until the close), raw trio servers (no length then close; chunked with trailers; 1xx before
the final response; 204/304; ``Connection: close``) and hypercorn (h11)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trio
from botocore.awsrequest import AWSRequest
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from engine.http1.aws_session import AwsHttpSession
from engine.http1.client import Http11Client

# (url) -> (status, body or None when the client does not return bodies)
Post = Callable[[str], Awaitable[tuple[int, bytes | None]]]


@asynccontextmanager
async def callback_client() -> AsyncIterator[Post]:
    async with Http11Client.running(timeout=5) as client:

        async def post(url: str) -> tuple[int, bytes | None]:
            return await client.post(url, b"{}", {}), None

        yield post


@asynccontextmanager
async def aws_session() -> AsyncIterator[Post]:
    async with AwsHttpSession(timeout=(5.0, 5.0), verify=True, proxies={}) as session:

        async def post(url: str) -> tuple[int, bytes | None]:
            request = AWSRequest(method="POST", url=url, data=b"{}").prepare()
            response = await session.send(request)
            return response.status_code, await response.content

        yield post


CLIENTS = pytest.mark.parametrize("opened", [callback_client, aws_session],
                                  ids=["callback-client", "aws-session"])  # fmt: skip
Opened = Callable[[], Any]


# -- Python's http.server: HTTP/1.0, no Content-Length, the body ends at the close -------
class _Http10(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"written until the close")

    def log_message(self, *args: Any) -> None:
        pass


@CLIENTS
async def test_python_http_server_http10_close_delimited(opened: Opened) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Http10)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cb"
    try:
        with trio.fail_after(10):
            async with opened() as post:
                for _ in range(2):  # the second on a new connection: the first was closed
                    status, body = await post(url)
                    assert status == 201
                    assert body in (None, b"written until the close")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- raw trio servers: canned answers --------------------------------------------------
class Raw:
    """Answers every request with ``answer``; closes after it when ``close``."""

    def __init__(self, answer: bytes, close: bool) -> None:
        self.answer, self.close, self.connections = answer, close, 0

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        data = b""
        try:
            while True:
                while b"\r\n\r\n{}" not in data:
                    more = await stream.receive_some(65_536)
                    if not more:
                        return
                    data += more
                data = data.partition(b"\r\n\r\n{}")[2]
                await stream.send_all(self.answer)
                if self.close:
                    return
        except trio.BrokenResourceError:
            pass
        finally:
            await trio.aclose_forcefully(stream)


@asynccontextmanager
async def raw_server(answer: bytes, close: bool = False) -> AsyncIterator[tuple[Raw, str]]:
    raw = Raw(answer, close)
    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(partial(trio.serve_tcp, raw.handle, 0,
                                                 host="127.0.0.1"))  # fmt: skip
        yield raw, f"http://127.0.0.1:{listener.socket.getsockname()[1]}/cb"
        nursery.cancel_scope.cancel()


async def test_a_close_delimited_response_is_an_answer_not_a_connection_failure() -> None:
    # Would fail on the old engine/http_client.py: it read until httptools' "message
    # complete", which a body without Content-Length or chunked coding never reaches, so the
    # server's close after the body raised HttpClientError("connection closed mid-response")
    # and a 200 the endpoint had sent counted as a failed callback (retried, then given up).
    answer = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok": true}'
    with trio.fail_after(10):
        async with (
            Http11Client.running(timeout=5) as client,
            raw_server(answer, close=True) as (raw, url),
        ):
            assert [await client.post(url, b"{}", {}) for _ in range(3)] == [200] * 3
    assert raw.connections == 3  # no length: the body ends the connection; none is reused


FRAMINGS = [
    # (answer, closes, the body the AWS session returns, connections for three requests)
    (b"HTTP/1.1 200 OK\r\n\r\nto the close", True, b"to the close", 3),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
     b"4;ext=y\r\nchun\r\n3\r\nked\r\n0\r\nX-Sum: 7\r\n\r\n", False, b"chunked", 1),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
     b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal", False, b"final", 1),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", True, b"ok", 3),
    (b"HTTP/1.1 204 No Content\r\n\r\n", False, b"", 1),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", False, b"", 1),
]  # fmt: skip


@CLIENTS
@pytest.mark.parametrize(("answer", "close", "body", "connections"), FRAMINGS,
                         ids=["no-length-then-close", "chunked-with-trailers", "1xx-first",
                              "connection-close", "204", "304"])  # fmt: skip
async def test_raw_server_framings(
    opened: Opened, answer: bytes, close: bool, body: bytes, connections: int
) -> None:
    status = int(answer.rpartition(b"HTTP/1.1 ")[2][:3])
    with trio.fail_after(10):
        async with raw_server(answer, close) as (raw, url), opened() as post:
            for _ in range(3):
                assert await post(url) in ((status, None), (status, body))
    assert raw.connections == connections


# -- hypercorn (h11): a chunked response, kept alive ------------------------------------
async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # hypercorn requires the lifespan protocol
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 202, "headers": []})
    for part in (b"par", b"ts"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@CLIENTS
async def test_hypercorn(opened: Opened) -> None:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = config.errorlog = None
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(hypercorn_serve, streaming_app, config,
                                                shutdown_trigger=stop.wait))  # fmt: skip
            url = binds[0] + "/cb"
            async with opened() as post:
                for _ in range(3):
                    assert await post(url) in ((202, None), (202, b"parts"))
            stop.set()

"""The lean HTTP/1.1 client against real loopback servers (plain and TLS)."""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from engine.http1.client import Http11Client, HttpClientError
from engine.http1.server import ServerLimits, serve
from tests.tls_support import self_signed


class Receiver:
    """An ASGI app that records requests and answers as told."""

    def __init__(self) -> None:
        self.peers: list[Any] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict[bytes, bytes]] = []
        self.status = 200
        self.delay = 0.0
        self.close = False
        self.chunked = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.peers.append(tuple(scope["client"]))
        self.bodies.append(body)
        self.headers.append(dict(scope["headers"]))
        if self.delay:
            await trio.sleep(self.delay)
        headers = [(b"connection", b"close")] if self.close else []
        if not self.chunked:
            headers.append((b"content-length", b"2"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})


@asynccontextmanager
async def receiving(limits: ServerLimits | None = None) -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        port = await nursery.start(
            partial(serve, receiver, host="127.0.0.1", port=0, shutdown=stop, limits=limits)
        )
        yield receiver, f"http://127.0.0.1:{port}/callback?x=1"
        stop.set()


async def test_keep_alive_reuses_one_connection_and_sends_headers_and_body() -> None:
    with trio.fail_after(10):
        async with (
            Http11Client.running(timeout=5) as client,
            receiving() as (receiver, url),
        ):
            for i in range(20):
                status = await client.post(
                    url, f'{{"n": {i}}}'.encode(), {"Authorization": "Bearer t"}
                )
                assert status == 200
    assert len(set(receiver.peers)) == 1
    assert receiver.bodies[-1] == b'{"n": 19}'
    assert receiver.headers[0][b"authorization"] == b"Bearer t"
    assert receiver.headers[0][b"host"].startswith(b"127.0.0.1:")


async def test_status_codes_come_back_and_close_and_chunked_responses_work() -> None:
    with trio.fail_after(10):
        async with (
            Http11Client.running(timeout=5) as client,
            receiving() as (receiver, url),
        ):
            receiver.status, receiver.close = 503, True
            assert [await client.post(url, b"{}", {}) for _ in range(3)] == [503] * 3
            receiver.status, receiver.close, receiver.chunked = 201, False, True
            assert await client.post(url, b"{}", {}) == 201
    assert len(set(receiver.peers)) == 4  # "connection: close" is honoured


async def test_a_slow_endpoint_times_out() -> None:
    """The client's watchdog bounds the request (no cancel scope per request): the
    answer that does not come in time is TooSlowError within the watchdog's tick, and
    the interrupted connection is never reused."""
    with trio.fail_after(10):
        async with (
            Http11Client.running(timeout=0.3) as client,
            receiving() as (receiver, url),
        ):
            assert await client.post(url, b"{}", {}) == 200
            receiver.delay = 2.0
            start = trio.current_time()
            with pytest.raises(trio.TooSlowError):
                await client.post(url, b"{}", {})
            waited = trio.current_time() - start
            assert 0.3 <= waited <= 0.3 + 0.03 + 0.2, waited  # a tick late, + a busy CI
            receiver.delay = 0.0
            assert await client.post(url, b"{}", {}) == 200
    assert len(receiver.peers) == 3
    assert len(set(receiver.peers)) == 2  # a new connection after the timed-out one


async def test_a_server_that_does_not_read_a_large_body_times_out() -> None:
    """The ticket also interrupts a send waiting for room (the peer reads nothing)."""

    async def deaf(stream: trio.SocketStream) -> None:
        await trio.sleep(5)
        await trio.aclose_forcefully(stream)

    with trio.fail_after(10):
        async with Http11Client.running(timeout=0.5) as client, trio.open_nursery() as nursery:
            [listener] = await nursery.start(partial(trio.serve_tcp, deaf, 0, host="127.0.0.1"))
            url = f"http://127.0.0.1:{listener.socket.getsockname()[1]}/cb"
            start = trio.current_time()
            with pytest.raises(trio.TooSlowError):
                await client.post(url, b"x" * 50_000_000, {})
            assert trio.current_time() - start <= 0.5 + 0.05 + 0.2
            nursery.cancel_scope.cancel()


async def test_a_client_without_its_watchdog_sends_nothing() -> None:
    client = Http11Client(timeout=5)
    with trio.fail_after(10):
        async with receiving() as (receiver, url):
            with pytest.raises(RuntimeError, match="watchdog is not running"):
                await client.post(url, b"{}", {})
    await client.aclose()
    assert receiver.peers == []


async def test_nothing_listening_is_a_client_error() -> None:
    async with receiving() as (_, url):
        pass  # the port is free again
    with trio.fail_after(10):
        async with Http11Client.running(timeout=2) as client:
            with pytest.raises(HttpClientError):
                await client.post(url, b"{}", {})


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    limits = ServerLimits(keepalive_timeout=0.2)
    with trio.fail_after(10):
        async with (
            Http11Client.running(timeout=5) as client,
            receiving(limits) as (receiver, url),
        ):
            assert await client.post(url, b"{}", {}) == 200
            await trio.sleep(0.6)  # the server closes the idle connection
            assert await client.post(url, b"{}", {}) == 200
    assert len(set(receiver.peers)) == 2


async def _tls_handler(stream: trio.SSLStream[trio.SocketStream]) -> None:
    data = b""
    with trio.move_on_after(5):
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
        await stream.send_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    await trio.aclose_forcefully(stream)


async def test_https_verifies_the_certificate() -> None:
    with tempfile.TemporaryDirectory() as folder:
        cert, key = self_signed(Path(folder))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert, key)
        trusting = ssl.create_default_context(cafile=str(cert))
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(
                    partial(trio.serve_ssl_over_tcp, _tls_handler, 0, server_context,
                            host="127.0.0.1")
                )  # fmt: skip
                port = listeners[0].transport_listener.socket.getsockname()[1]
                url = f"https://localhost:{port}/cb"
                async with Http11Client.running(ssl_context=trusting) as client:
                    assert await client.post(url, b"{}", {}) == 202
                async with Http11Client.running() as untrusting:
                    with pytest.raises(HttpClientError):  # an unknown certificate is refused
                        await untrusting.post(url, b"{}", {})
                nursery.cancel_scope.cancel()


async def test_a_forgotten_origin_keeps_no_connection_and_comes_back_on_a_new_one() -> None:
    """Per-send callback origins (issue 23) are forgotten when their actor is reaped: the
    idle connection is closed, and one in flight meanwhile is closed when done."""
    with trio.fail_after(10):
        async with (
            Http11Client.running(timeout=5) as client,
            receiving() as (receiver, url),
        ):
            origin = url.split("/callback")[0]
            assert await client.post(url, b"{}", {}) == 200
            client.forget(origin)
            receiver.delay = 0.2
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.post, url, b"{}", {})
                await trio.sleep(0.05)
                client.forget(origin)  # while that request is in flight
            receiver.delay = 0.0
            assert await client.post(url, b"{}", {}) == 200
            assert await client.post(url, b"{}", {}) == 200
    # One connection each for the first two requests; the last two share the third.
    assert len(set(receiver.peers)) == 3

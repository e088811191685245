"""The built-in HTTP/1.1 server over a real socket on 127.0.0.1, with a trivial ASGI app.

Raw trio sockets where the bytes matter (pipelining, malformed or slow requests), httpx2
where an ordinary client is enough. Real clock; every test has an absolute deadline.
The server's own error bodies come from ``error_body`` (here a small JSON object; the
engine's Notify envelope is tested in tests/api/test_server_errors.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import httpx2
import msgspec
import pytest
import trio
import trio.testing

from engine.http1.request_parser import MAX_PIPELINE
from engine.http1.server import ServerLimits, ServerStats, serve

SMALL = ServerLimits(
    max_body_bytes=1000,
    max_header_bytes=1024,
    header_timeout=5.0,
    body_timeout=5.0,
    keepalive_timeout=5.0,
    max_connections=50,
    drain_seconds=3.0,
)


def error_body(status: int, message: str) -> tuple[bytes, bytes]:
    return b"application/json", msgspec.json.encode({"status": status, "message": message})


class App:
    """Answers ``METHOD path body-length client-port``; ``/sleep?s=0.2`` sleeps first,
    ``/boom`` raises. Counts requests that reached it."""

    def __init__(self) -> None:
        self.entered = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.entered += 1
        message = await receive()
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("secret detail from the app")
        if path == "/sleep":
            await trio.sleep(float(parse_qs(scope["query_string"].decode())["s"][0]))
        text = f"{scope['method']} {path} {len(message['body'])} {scope['client'][1]}"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": text.encode()})


class Server(msgspec.Struct):
    port: int
    shutdown: trio.Event
    stats: ServerStats
    app: App
    returned: trio.Event
    conns: list[Conn] = msgspec.field(default_factory=list)

    async def connect(self) -> Conn:
        conn = Conn(await trio.open_tcp_stream("127.0.0.1", self.port))
        self.conns.append(conn)
        return conn


@asynccontextmanager
async def running(limits: ServerLimits = SMALL) -> AsyncIterator[Server]:
    app, stats, shutdown, returned = App(), ServerStats(), trio.Event(), trio.Event()

    async def run(*, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(app, host="127.0.0.1", port=0, limits=limits, shutdown=shutdown,
                    stats=stats, error_body=error_body, task_status=task_status)  # fmt: skip
        returned.set()

    async with trio.open_nursery() as nursery:
        server = Server(await nursery.start(run), shutdown, stats, app, returned)
        try:
            yield server
        finally:
            shutdown.set()
            for conn in server.conns:
                await conn.aclose()


class Response(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: bytes

    def envelope(self) -> dict[str, Any]:
        assert self.headers["content-type"] == "application/json"
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


class Conn:
    """A raw client connection that parses Content-Length-framed responses."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _fill(self) -> bool:
        data = await self.stream.receive_some(65_536)
        self.buf += data
        return bool(data)

    async def response(self) -> Response:
        for _ in range(1000):
            if b"\r\n\r\n" in self.buf:
                break
            if not await self._fill():
                raise EOFError(f"closed before a response head: {self.buf!r}")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        first, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        length = int(headers["content-length"])
        for _ in range(1000):
            if len(self.buf) >= length or not await self._fill():
                break
        assert len(self.buf) >= length, "closed mid-body"
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(int(first.split()[1]), headers, body)

    async def closed(self) -> bool:
        """True once the server closes the connection without sending anything more."""
        for _ in range(1000):
            try:
                if not await self._fill():
                    return self.buf == b""
            except trio.BrokenResourceError:
                return self.buf == b""
        return False

    async def aclose(self) -> None:
        await self.stream.aclose()


def envelope(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode()


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    with trio.fail_after(10):
        async with running() as server:
            limits = httpx2.Limits(max_connections=1)
            base = f"http://127.0.0.1:{server.port}"
            async with httpx2.AsyncClient(base_url=base, limits=limits) as client:
                bodies = [(await client.get(f"/r{i}")).text for i in range(5)]
    assert [b.split()[1] for b in bodies] == [f"/r{i}" for i in range(5)]
    assert len({b.split()[3] for b in bodies}) == 1  # one client port: one connection
    assert server.stats.requests_total == 5


async def test_pipelined_requests_are_answered_in_order() -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            # The first one is the slowest: order must follow the requests, not completion.
            await conn.send(get("/sleep?s=0.2") + get("/b") + get("/c") + get("/d"))
            paths = [(await conn.response()).body.split()[1] for _ in range(4)]
            await conn.aclose()
    assert paths == [b"/sleep", b"/b", b"/c", b"/d"]


async def test_bodies_within_the_limit_reach_the_app() -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"
                            + b"x" * 1000)  # fmt: skip
            fixed = await conn.response()
            await conn.send(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"1f4\r\n" + b"y" * 500 + b"\r\n0\r\n\r\n")  # fmt: skip
            chunked = await conn.response()
            await conn.aclose()
    assert (fixed.status, fixed.body.split()[:3]) == (200, [b"POST", b"/p", b"1000"])
    assert (chunked.status, chunked.body.split()[:3]) == (200, [b"POST", b"/c", b"500"])


async def test_content_length_over_the_limit_is_413_before_the_app_runs() -> None:
    with trio.fail_after(10):
        async with running() as server:
            base = f"http://127.0.0.1:{server.port}"
            async with httpx2.AsyncClient(base_url=base) as client:
                r = await client.post("/upload", content=b"z" * 200_000)
    assert r.status_code == 413
    assert r.json() == envelope(413, "Request body is larger than 1000 bytes")
    assert r.headers["connection"] == "close"
    assert server.app.entered == 0


async def test_chunked_body_over_the_limit_is_413() -> None:
    chunk = b"258\r\n" + b"q" * 600 + b"\r\n"  # 0x258 = 600 bytes; two chunks exceed 1000
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + chunk + chunk + b"0\r\n\r\n")  # fmt: skip
            r = await conn.response()
            assert await conn.closed()
    assert r.status == 413
    assert r.envelope()["status"] == 413
    assert server.app.entered == 0


@pytest.mark.parametrize(
    "raw", [b"NOT A REQUEST LINE AT ALL\r\n\r\n", b"GET /x HTTP/9Z\r\nHost: t\r\n\r\n"]
)
async def test_malformed_request_line_is_400_and_closes(raw: bytes) -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(raw)
            r = await conn.response()
            assert await conn.closed()
    assert r.status == 400
    assert r.envelope() == envelope(400, "Malformed request")


async def test_oversized_head_is_431() -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(get("/big", f"X-Filler: {'f' * 2000}\r\n"))
            r = await conn.response()
            assert await conn.closed()
    assert r.status == 431
    assert r.envelope()["status"] == 431
    assert server.app.entered == 0


async def test_slow_request_head_is_408() -> None:
    limits = msgspec.structs.replace(SMALL, header_timeout=0.3)
    with trio.fail_after(10):
        async with running(limits) as server:
            conn = await server.connect()
            await conn.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n")  # the head never ends
            started = trio.current_time()
            r = await conn.response()
            waited = trio.current_time() - started
            assert await conn.closed()
    assert r.status == 408
    assert r.envelope()["status"] == 408
    assert 0.25 <= waited < 3


async def test_slow_request_body_is_408() -> None:
    limits = msgspec.structs.replace(SMALL, body_timeout=0.3)
    with trio.fail_after(10):
        async with running(limits) as server:
            conn = await server.connect()
            await conn.send(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            r = await conn.response()
    assert r.status == 408
    assert server.app.entered == 0


async def test_idle_keep_alive_connection_closes_after_keepalive_timeout() -> None:
    limits = msgspec.structs.replace(SMALL, keepalive_timeout=0.3)
    with trio.fail_after(10):
        async with running(limits) as server:
            conn = await server.connect()
            await conn.send(get("/once"))
            assert (await conn.response()).status == 200
            started = trio.current_time()
            assert await conn.closed()  # silently: no 408 for an idle connection
            waited = trio.current_time() - started
    assert 0.25 <= waited < 3


async def test_connections_beyond_the_limit_get_503() -> None:
    limits = msgspec.structs.replace(SMALL, max_connections=2)
    with trio.fail_after(10):
        async with running(limits) as server:
            first, second = await server.connect(), await server.connect()
            for conn in (first, second):
                await conn.send(get("/in"))
                assert (await conn.response()).status == 200
            third = await server.connect()
            await third.send(get("/over"))
            rejected = await third.response()
            assert await third.closed()
            await third.aclose()
            # Capacity frees up when a connection closes.
            await first.aclose()
            for _ in range(200):
                if server.stats.open_connections < 2:
                    break
                await trio.sleep(0.01)
            fourth = await server.connect()
            await fourth.send(get("/again"))
            again = await fourth.response()
    assert rejected.status == 503
    assert rejected.envelope()["status"] == 503
    assert server.stats.rejected_connections_total == 1
    assert again.status == 200


async def test_graceful_drain_answers_in_flight_requests_and_refuses_new_ones() -> None:
    with trio.fail_after(10):
        async with running() as server:
            idle = await server.connect()
            await idle.send(get("/idle"))
            assert (await idle.response()).status == 200
            busy = [await server.connect() for _ in range(3)]
            for conn in busy:
                await conn.send(get("/sleep?s=0.5"))
            for _ in range(500):
                if server.app.entered == 4:
                    break
                await trio.sleep(0.01)
            assert server.app.entered == 4
            started = trio.current_time()
            server.shutdown.set()
            await trio.testing.wait_all_tasks_blocked()  # serve has closed its listener
            with pytest.raises(OSError, match="connect"):
                await trio.open_tcp_stream("127.0.0.1", server.port)
            assert await idle.closed()  # idle keep-alive connections close at once
            answers = [await conn.response() for conn in busy]
            for conn in busy:
                assert await conn.closed()
            await server.returned.wait()
            took = trio.current_time() - started
    assert [(r.status, r.body.split()[1]) for r in answers] == [(200, b"/sleep")] * 3
    assert all(r.headers["connection"] == "close" for r in answers)
    assert took < SMALL.drain_seconds


async def test_drain_gives_up_on_requests_slower_than_drain_seconds() -> None:
    limits = msgspec.structs.replace(SMALL, drain_seconds=0.3)
    with trio.fail_after(10):
        async with running(limits) as server:
            conn = await server.connect()
            await conn.send(get("/sleep?s=30"))
            for _ in range(500):
                if server.app.entered == 1:
                    break
                await trio.sleep(0.01)
            started = trio.current_time()
            server.shutdown.set()
            await server.returned.wait()
            took = trio.current_time() - started
            assert await conn.closed()
    assert 0.25 <= took < 2


async def test_app_exception_is_a_500_without_the_traceback() -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(get("/boom"))
            r = await conn.response()
            assert await conn.closed()
    assert r.status == 500
    assert r.envelope() == envelope(500, "Internal server error")
    assert b"secret detail" not in r.body
    assert b"Traceback" not in r.body


async def test_expect_100_continue_gets_an_interim_response() -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                            b"Expect: 100-continue\r\n\r\n")  # fmt: skip
            for _ in range(100):
                if b"\r\n\r\n" in conn.buf or not await conn._fill():
                    break
            interim, _, conn.buf = conn.buf.partition(b"\r\n\r\n")
            await conn.send(b"hello")
            r = await conn.response()
            await conn.aclose()
    assert interim == b"HTTP/1.1 100 Continue"
    assert r.body.split()[:3] == [b"POST", b"/e", b"5"]


async def test_a_long_pipeline_beyond_the_queue_bound_is_answered_in_order() -> None:
    count = 3 * MAX_PIPELINE + 5
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(b"".join(get(f"/p{i}") for i in range(count)))
            paths = [(await conn.response()).body.split()[1] for _ in range(count)]
    assert paths == [f"/p{i}".encode() for i in range(count)]


async def test_interim_100_continue_never_overtakes_an_earlier_response() -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(get("/sleep?s=0.2") + b"POST /e HTTP/1.1\r\nHost: t\r\n"
                            b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")  # fmt: skip
            first = await conn.response()
            for _ in range(100):
                if b"\r\n\r\n" in conn.buf or not await conn._fill():
                    break
            interim, _, conn.buf = conn.buf.partition(b"\r\n\r\n")
            await conn.send(b"ok")
            second = await conn.response()
    assert first.body.split()[1] == b"/sleep"
    assert interim == b"HTTP/1.1 100 Continue"
    assert second.body.split()[:3] == [b"POST", b"/e", b"2"]


async def test_drain_answers_requests_already_pipelined_then_closes() -> None:
    with trio.fail_after(10):
        async with running() as server:
            conn = await server.connect()
            await conn.send(get("/sleep?s=0.3") + get("/b") + get("/c"))
            for _ in range(500):
                if server.app.entered == 1:
                    break
                await trio.sleep(0.01)
            server.shutdown.set()
            answers = [await conn.response() for _ in range(3)]
            assert await conn.closed()
    assert [r.body.split()[1] for r in answers] == [b"/sleep", b"/b", b"/c"]
    assert [r.headers.get("connection") for r in answers] == [None, None, "close"]


async def test_a_408_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    """A slow client is the client's fault: a 408 logs no ERROR and no traceback (a cheap
    log flood otherwise: 194 records for 200 slow connections in issue 20)."""
    limits = msgspec.structs.replace(SMALL, header_timeout=0.3, body_timeout=0.3)
    with trio.fail_after(10):
        async with running(limits) as server:
            for request in (
                b"GET /slow HTTP/1.1\r\nHost: t\r\n",
                b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
            ):
                conn = await server.connect()
                await conn.send(request)
                assert (await conn.response()).status == 408
                assert await conn.closed()
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not noisy, [(r.levelname, r.getMessage()) for r in noisy]

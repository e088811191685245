"""The built-in HTTP/1.1 ingress: trio sockets + httptools parsing, serving an ASGI 3 app.

Rules:
- One task per connection handles its requests strictly in order, so pipelined requests
  are answered in the order they were sent. The parser (``request_parser.py``) queues a
  bounded number; beyond that the connection stops reading until the queue is answered.
- Bodies are read fully before the app runs (bounded by ``max_body_bytes``, see the
  parser's rules).
- 400 on malformed requests, 431 on oversized heads (the parser), 408 when a head or body
  arrives too slowly; then the connection closes. An idle keep-alive connection closes silently.
  Timeouts hold to within a tenth of the shortest one (a watchdog's tick; see
  ``engine/api/connection.py``), which is plenty for timeouts of seconds.
- Beyond ``max_connections`` a new connection gets 503 and is closed.
- After an error response the server half-closes and discards what the client still sends
  for up to ``LINGER_SECONDS``: closing with unread bytes would send a TCP reset, which can
  destroy the error response before the client reads it (e.g. a 413 mid-upload).
- An unexpected failure in one connection is logged and closes only that connection.
- Graceful drain when ``shutdown`` is set: the listener closes, idle connections close,
  requests already received are answered (the last one with ``connection: close``), all
  within ``drain_seconds`` (a deadline on the connections' nursery). Then ``serve`` returns.
- Error bodies use the Notify JSON envelope. An app exception before the response starts
  becomes a 500 envelope; the traceback is logged, never sent.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import msgspec
import trio

from engine.api.connection import (
    Clock,
    Connection,
    Interrupted,
    accept_connections,
    listening_socket,
    watch_deadlines,
)
from engine.api.request_parser import HttpError, Request, RequestParser

log = logging.getLogger("engine.api.server")

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]
LINGER_SECONDS = 1.0


class ServerLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_body_bytes: int = 1_048_576 * 60
    max_header_bytes: int = 65_536
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 30.0
    max_connections: int = 2048
    drain_seconds: float = 10.0


class ServerStats:
    __slots__ = ("open_connections", "rejected_connections_total", "requests_total")

    def __init__(self) -> None:
        self.open_connections = 0
        self.requests_total = 0
        self.rejected_connections_total = 0


_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_ERROR_NAMES = {
    400: "BadRequest",
    408: "RequestTimeout",
    413: "RequestEntityTooLarge",
    431: "RequestHeaderFieldsTooLarge",
    500: "Exception",
    503: "ServiceUnavailable",
}


class _Date:
    """The Date header, formatted once per second, not once per response."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


_date = _Date()


def error_response(status: int, message: str, *, close: bool = True) -> bytes:
    error = {"error": _ERROR_NAMES.get(status, "Error"), "message": message}
    body = msgspec.json.encode({"status_code": status, "errors": [error]})
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"")),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"date: " + _date.get(),
    ]
    if close:
        head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class _Server:
    def __init__(
        self,
        app: ASGIApp,
        limits: ServerLimits,
        stats: ServerStats,
        server_addr: tuple[str, int],
    ) -> None:
        self.app = app
        self.limits = limits
        self.stats = stats
        self.server_addr = server_addr
        self.draining = False
        self.connections: set[Connection] = set()
        self.clock = Clock()

    def drain(self) -> None:
        self.draining = True
        for conn in [c for c in self.connections if c.idle]:
            conn.interrupt()

    async def handle(self, stream: Connection) -> None:
        self.stats.open_connections += 1
        self.connections.add(stream)
        try:
            if self.stats.open_connections > self.limits.max_connections:
                self.stats.rejected_connections_total += 1
                await _send_error(stream, HttpError(503, "Too many connections"))
                return
            await self._serve_connection(stream)
        except OSError:
            pass  # the peer reset or went away: nothing left to answer
        except Exception:
            log.exception("connection failed")
        finally:
            self.stats.open_connections -= 1
            self.connections.discard(stream)
            stream.close()

    async def _serve_connection(self, stream: Connection) -> None:
        client = stream.peer()
        p = RequestParser(self.limits.max_header_bytes, self.limits.max_body_bytes, self.clock)
        unparsed = b""
        while True:
            answered = bool(p.ready)
            while p.ready:
                request = p.ready.popleft()
                keep = await self._respond(stream, request, client, p.ready)
                if not keep:
                    return
            if self.draining and not p.in_progress():
                return
            if unparsed:
                unparsed, error = p.feed(unparsed)
                if error is not None:
                    await _send_error(stream, error)
                    return
                continue
            if p.expect_continue:
                # Only once earlier responses are out, so it cannot overtake them.
                p.expect_continue = False
                await stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            stream.wait_deadline = self._deadline(p)
            stream.idle = not p.in_progress()
            try:
                data = await stream.receive(wait_first=answered and not p.in_progress())
            except Interrupted:
                if p.in_progress():
                    await _send_error(stream, HttpError(408, "Request timed out"))
                return
            finally:
                stream.wait_deadline = math.inf
                stream.idle = False
            if not data:
                return
            unparsed, error = p.feed(data)
            if error is not None:
                await _send_error(stream, error)
                return

    def _deadline(self, p: RequestParser) -> float:
        if not p.in_progress():
            return self.clock.now + self.limits.keepalive_timeout
        budget = self.limits.body_timeout if p.headers_done else self.limits.header_timeout
        return p.started_at + budget

    async def _respond(
        self,
        stream: Connection,
        req: Request,
        client: tuple[str, int],
        queued: deque[Request],
    ) -> bool:
        self.stats.requests_total += 1
        raw_path, _, query = req.url.partition(b"?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": req.version,
            "method": req.method.decode("ascii", "replace"),
            "scheme": "http",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": req.headers,
            "client": client,
            "server": self.server_addr,
        }
        body = b"".join(req.body)
        state = {"received": False, "started": False, "done": False, "keep": req.keep_alive}
        pending_start: list[bytes] = []
        chunked = [False]

        async def receive() -> dict[str, Any]:
            if not state["received"]:
                state["received"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                if state["started"]:
                    raise RuntimeError("response already started")
                state["started"] = True
                status = int(message["status"])
                lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b""))]
                has_length = False
                for name, value in message.get("headers", ()):
                    lname = bytes(name).lower()
                    if lname == b"content-length":
                        has_length = True
                    elif lname == b"connection":
                        # The server owns this header; an app may still ask to close.
                        if bytes(value).lower() == b"close":
                            state["keep"] = False
                        continue
                    lines.append(bytes(name) + b": " + bytes(value))
                lines.append(b"date: " + _date.get())
                # Decided now, not when the request arrived: a drain may have begun since.
                # While draining, requests already parsed are still answered.
                if self.draining and not queued:
                    state["keep"] = False
                if not state["keep"]:
                    lines.append(b"connection: close")
                pending_start.append(b"\r\n".join(lines))
                chunked[0] = not has_length
            elif kind == "http.response.body":
                if not state["started"] or state["done"]:
                    raise RuntimeError("body sent before start or after the end")
                data = bytes(message.get("body", b""))
                more = bool(message.get("more_body", False))
                out = b""
                if pending_start:
                    head = pending_start.pop()
                    if chunked[0] and not more:
                        chunked[0] = False  # the whole body is here: send a length instead
                        head += b"\r\ncontent-length: %d" % len(data)
                    elif chunked[0]:
                        head += b"\r\ntransfer-encoding: chunked"
                    out = head + b"\r\n\r\n"
                if chunked[0]:
                    if data:
                        out += b"%x\r\n%s\r\n" % (len(data), data)
                    if not more:
                        out += b"0\r\n\r\n"
                else:
                    out += data
                if not more:
                    state["done"] = True
                if out:
                    await stream.send_all(out)

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("unhandled error in the application")
            if not state["started"]:
                await _send_error(stream, HttpError(500, "Internal server error"))
            return False
        if not state["done"]:
            if not state["started"]:
                await _send_error(stream, HttpError(500, "Internal server error"))
            return False  # an incomplete response cannot be followed by another one
        return state["keep"]


async def _send_error(stream: Connection, error: HttpError) -> None:
    """Send an error response, then close gracefully (see the lingering rule)."""
    await stream.send_all(error_response(error.status, error.message))
    stream.send_eof()
    with trio.move_on_after(LINGER_SECONDS):
        for _ in range(100_000):  # bounded in time above, and in count here
            if not await stream.receive():
                break


async def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    limits: ServerLimits | None = None,
    shutdown: trio.Event | None = None,
    reuse_port: bool = False,
    stats: ServerStats | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown`` is set, then drain and return."""
    # Explicit ``is None``: trio refuses to treat an Event as a bool.
    limits = ServerLimits() if limits is None else limits
    stats = ServerStats() if stats is None else stats
    shutdown = trio.Event() if shutdown is None else shutdown
    sock = await listening_socket(host, port, reuse_port)
    bound_port = int(sock.getsockname()[1])
    server = _Server(app, limits, stats, (host, bound_port))
    shortest = min(limits.header_timeout, limits.body_timeout, limits.keepalive_timeout)
    tick = min(max(shortest / 10, 0.01), 1.0)
    async with trio.open_nursery() as watchdog:
        watchdog.start_soon(watch_deadlines, server.connections, server.clock, tick)
        async with trio.open_nursery() as connections:
            try:
                async with trio.open_nursery() as accepting:
                    accepting.start_soon(accept_connections, sock, server.handle, connections)
                    task_status.started(bound_port)
                    await shutdown.wait()
                    accepting.cancel_scope.cancel()
            finally:
                trio.lowlevel.notify_closing(sock)
                sock.close()
            server.drain()
            connections.cancel_scope.deadline = trio.current_time() + limits.drain_seconds
        watchdog.cancel_scope.cancel()

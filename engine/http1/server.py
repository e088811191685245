"""The built-in HTTP/1.1 server: trio sockets + httptools parsing, serving an ASGI 3 app.

A thin socket shell: requests come from ``request_parser.py``, response bytes from
``response_writer.py``, sockets and timeouts from ``server_sockets.py``.

Rules:
- One task per connection handles its requests strictly in order, so pipelined requests
  are answered in the order they were sent. The parser (``request_parser.py``) queues a
  bounded number; beyond that the connection stops reading until the queue is answered.
- Bodies are read fully before the app runs (bounded by ``max_body_bytes``, see the
  parser's rules).
- 400 on malformed requests, 431 on oversized heads (the parser), 408 when a head or body
  arrives too slowly (the client's fault: one DEBUG line, no traceback); then the connection
  closes. An idle keep-alive connection closes silently.
  Timeouts hold to within a tenth of the shortest one (a watchdog's tick; see
  ``server_sockets.py``), which is plenty for timeouts of seconds.
- Beyond ``max_connections`` a new connection gets 503 and is closed.
- After an error response the server half-closes and discards what the client still sends
  for up to ``LINGER_SECONDS``: closing with unread bytes would send a TCP reset, which can
  destroy the error response before the client reads it (e.g. a 413 mid-upload).
- An unexpected failure in one connection is logged and closes only that connection.
- Graceful drain when ``shutdown`` is set: the listener closes, idle connections close,
  requests already received are answered (the last one with ``connection: close``), all
  within ``drain_seconds`` (a deadline on the connections' nursery). Then ``serve`` returns.
- Error bodies come from the ``error_body`` callable given to ``serve`` (the app's own error
  format; this module knows none). An app exception before the response starts becomes a
  500; the traceback is logged, never sent.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any
from urllib.parse import unquote

import msgspec
import trio

from engine.http1.asgi import ASGIApp
from engine.http1.request_parser import HttpError, Request, RequestParser
from engine.http1.response_writer import (
    CONTINUE,
    ErrorBody,
    ResponseWriter,
    error_response,
    plain_error_body,
)
from engine.http1.server_sockets import (
    Clock,
    Connection,
    Interrupted,
    accept_connections,
    listening_socket,
    watch_deadlines,
)

log = logging.getLogger("engine.http1.server")

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


class _Server:
    def __init__(
        self,
        app: ASGIApp,
        limits: ServerLimits,
        stats: ServerStats,
        server_addr: tuple[str, int],
        error_body: ErrorBody,
    ) -> None:
        self.app = app
        self.error_body = error_body
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
                await self.send_error(stream, HttpError(503, "Too many connections"))
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
                    await self.send_error(stream, error)
                    return
                continue
            if p.expect_continue:
                # Only once earlier responses are out, so it cannot overtake them.
                p.expect_continue = False
                await stream.send_all(CONTINUE)
            stream.wait_deadline = self._deadline(p)
            stream.idle = not p.in_progress()
            try:
                data = await stream.receive(wait_first=answered and not p.in_progress())
            except Interrupted:
                if p.in_progress():
                    log.debug("request timed out", extra={"client": client[0]})
                    await self.send_error(stream, HttpError(408, "Request timed out"))
                return
            finally:
                stream.wait_deadline = math.inf
                stream.idle = False
            if not data:
                return
            unparsed, error = p.feed(data)
            if error is not None:
                await self.send_error(stream, error)
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
        received = False
        writer = ResponseWriter(req.keep_alive)

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                # While draining, requests already parsed are still answered.
                writer.start(int(message["status"]), message.get("headers", ()),
                             close=self.draining and not queued)  # fmt: skip
            elif kind == "http.response.body":
                out = writer.body(bytes(message.get("body", b"")),
                                  bool(message.get("more_body", False)))  # fmt: skip
                if out:
                    await stream.send_all(out)

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("unhandled error in the application")
            if not writer.started:
                await self.send_error(stream, HttpError(500, "Internal server error"))
            return False
        if not writer.done:
            if not writer.started:
                await self.send_error(stream, HttpError(500, "Internal server error"))
            return False  # an incomplete response cannot be followed by another one
        return writer.keep_alive

    async def send_error(self, stream: Connection, error: HttpError) -> None:
        """Send an error response, then close gracefully (see the lingering rule)."""
        content_type, body = self.error_body(error.status, error.message)
        await stream.send_all(error_response(error.status, content_type, body))
        stream.send_eof()
        with trio.move_on_after(LINGER_SECONDS):
            try:
                for _ in range(100_000):  # bounded in time above, and in count here
                    if not await stream.receive():
                        break
            except Interrupted:
                # A connection woken for its timeout (a 408) stays woken: its linger ends
                # here. The client's fault, not ours: no traceback (issue 20's log flood).
                pass


async def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    limits: ServerLimits | None = None,
    shutdown: trio.Event | None = None,
    reuse_port: bool = False,
    stats: ServerStats | None = None,
    error_body: ErrorBody = plain_error_body,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown`` is set, then drain and return. ``error_body`` gives
    the content type and body of the server's own error responses."""
    # Explicit ``is None``: trio refuses to treat an Event as a bool.
    limits = ServerLimits() if limits is None else limits
    stats = ServerStats() if stats is None else stats
    shutdown = trio.Event() if shutdown is None else shutdown
    sock = await listening_socket(host, port, reuse_port)
    bound_port = int(sock.getsockname()[1])
    server = _Server(app, limits, stats, (host, bound_port), error_body)
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

"""Requests out of a connection's bytes: httptools callbacks with the server's limits.

Sans-IO: bytes in, ``Request`` objects (or the ``HttpError`` that ends the connection) out;
the clock is whatever object has a ``now`` (the server's watchdog clock).

Rules:
- At most ``MAX_PIPELINE`` parsed requests wait per connection; beyond that ``feed``
  stops and hands back the unparsed rest (the server stops reading: backpressure).
  Bytes are parsed in ``FEED_SLICE`` pieces so the bound holds within one read.
- 431 once a head passes ``max_header_bytes``; 413 on a Content-Length above
  ``max_body_bytes`` before any body is read, and on a chunked body as it passes it.
- Anything httptools cannot parse is a 400; an upgrade request too (not supported).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import httptools

MAX_PIPELINE = 32
FEED_SLICE = 8192


class Clock(Protocol):
    """A time reading, refreshed by someone else (``server_sockets.Clock``)."""

    now: float


class HttpError(Exception):
    """A request the server answers itself with ``status``, then closes the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    """One parsed request: the head as httptools gave it, the body in pieces."""

    __slots__ = ("body", "headers", "keep_alive", "method", "url", "version")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.method = b"GET"
        self.version = "1.1"
        self.keep_alive = True


class RequestParser:
    """httptools callbacks, collecting complete requests into ``ready``."""

    def __init__(self, max_header_bytes: int, max_body_bytes: int, clock: Clock) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.parser = httptools.HttpRequestParser(self)
        self.ready: deque[Request] = deque()
        self.current: Request | None = None
        self.head_bytes = 0
        self.body_bytes = 0
        self.headers_done = False
        self.started_at = 0.0
        self.expect_continue = False

    # httptools callbacks ---------------------------------------------------------
    def on_message_begin(self) -> None:
        self.current = Request()
        self.head_bytes = self.body_bytes = 0
        self.headers_done = self.expect_continue = False
        self.started_at = self.clock.now

    def on_url(self, url: bytes) -> None:
        assert self.current is not None
        self.current.url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers.append((name.lower(), value))
        self._count_head(len(name) + len(value) + 4)

    def _count_head(self, n: int) -> None:
        self.head_bytes += n
        if self.head_bytes > self.max_header_bytes:
            raise HttpError(431, "Request header fields too large")

    def on_headers_complete(self) -> None:
        assert self.current is not None
        req = self.current
        self.headers_done = True
        req.method = self.parser.get_method()
        req.version = self.parser.get_http_version()
        req.keep_alive = self.parser.should_keep_alive()
        for name, value in req.headers:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise HttpError(400, "Invalid Content-Length") from None
                if length > self.max_body_bytes:
                    raise HttpError(413, f"Request body is larger than "
                                          f"{self.max_body_bytes} bytes")  # fmt: skip
            elif name == b"expect" and value.lower() == b"100-continue":
                self.expect_continue = True

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.body_bytes += len(body)
        if self.body_bytes > self.max_body_bytes:
            raise HttpError(413, f"Request body is larger than {self.max_body_bytes} bytes")
        self.current.body.append(body)

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.ready.append(self.current)
        self.current = None
        self.expect_continue = False  # the body is here: no interim response is due

    # -----------------------------------------------------------------------------
    def in_progress(self) -> bool:
        return self.current is not None

    def feed(self, data: bytes) -> tuple[bytes, HttpError | None]:
        """Parse ``data`` until ``MAX_PIPELINE`` requests are queued; return the unparsed
        rest and the error that ends the connection, if any."""
        for start in range(0, len(data), FEED_SLICE):
            try:
                self.parser.feed_data(data[start : start + FEED_SLICE])
            except HttpError as exc:
                return b"", exc
            except httptools.HttpParserUpgrade:
                return b"", HttpError(400, "Protocol upgrade is not supported")
            except httptools.HttpParserError as exc:
                # httptools re-raises a callback's exception as the context of its own.
                cause = exc.__context__
                if isinstance(cause, HttpError):
                    return b"", cause
                return b"", HttpError(400, "Malformed request")
            if len(self.ready) >= MAX_PIPELINE:
                return data[start + FEED_SLICE :], None
        return b"", None

"""Responses as bytes: the server's serialisation of ASGI response messages (sans-IO).

Rules:
- The server owns ``Connection`` and ``Date``; an app's ``connection: close`` is honoured
  (the connection closes after this response), any other ``connection`` value is dropped.
- Framing (RFC 9112 section 6): the app's Content-Length when it gave one; otherwise, when
  the first body message is also the last, a Content-Length computed from it (the usual
  case: one write, no chunk framing); otherwise ``transfer-encoding: chunked``.
- The head is held back until the first body message, so head and (first) body leave in
  one ``send``: one syscall and one TCP segment for a small response.
- ``Date`` is formatted once per second, not once per response.
- Error responses (the server's own 400/408/413/431/500/503) carry whatever body the app's
  ``ErrorBody`` callable gives: this package knows nothing of any API's error envelope.
  Without one, the body is the message as plain text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http import HTTPStatus

REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# (status, message) -> (content type, body) of the server's own error responses.
ErrorBody = Callable[[int, str], tuple[bytes, bytes]]


def plain_error_body(status: int, message: str) -> tuple[bytes, bytes]:
    return b"text/plain; charset=utf-8", message.encode()


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


date = _Date()


def error_response(status: int, content_type: bytes, body: bytes, *, close: bool = True) -> bytes:
    head = [
        b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b"")),
        b"content-type: " + content_type,
        b"content-length: %d" % len(body),
        b"date: " + date.get(),
    ]
    if close:
        head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class ResponseWriter:
    """One response: ``start`` with the head, then ``body`` per body message, each giving the
    bytes to send. ``keep_alive`` says, once ``done``, whether the connection may serve
    another request."""

    __slots__ = ("_head", "chunked", "done", "keep_alive", "started")

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.started = self.done = self.chunked = False
        self._head = b""

    def start(self, status: int, headers: Iterable[tuple[bytes, bytes]], *, close: bool) -> None:
        """``close``: the server closes after this response whatever the request said (a
        drain); decided now, not when the request arrived."""
        if self.started:
            raise RuntimeError("response already started")
        self.started = True
        lines = [b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b""))]
        has_length = False
        for name, value in headers:
            lname = bytes(name).lower()
            if lname == b"content-length":
                has_length = True
            elif lname == b"connection":
                # The server owns this header; an app may still ask to close.
                if bytes(value).lower() == b"close":
                    self.keep_alive = False
                continue
            lines.append(bytes(name) + b": " + bytes(value))
        lines.append(b"date: " + date.get())
        if close:
            self.keep_alive = False
        if not self.keep_alive:
            lines.append(b"connection: close")
        self._head = b"\r\n".join(lines)
        self.chunked = not has_length

    def body(self, data: bytes, more: bool) -> bytes:
        """The bytes that carry ``data`` (and the held-back head, the first time)."""
        if not self.started or self.done:
            raise RuntimeError("body sent before start or after the end")
        out = b""
        if self._head:
            head, self._head = self._head, b""
            if self.chunked and not more:
                self.chunked = False  # the whole body is here: send a length instead
                head += b"\r\ncontent-length: %d" % len(data)
            elif self.chunked:
                head += b"\r\ntransfer-encoding: chunked"
            out = head + b"\r\n\r\n"
        if self.chunked:
            if data:
                out += b"%x\r\n%s\r\n" % (len(data), data)
            if not more:
                out += b"0\r\n\r\n"
        else:
            out += data
        if not more:
            self.done = True
        return out

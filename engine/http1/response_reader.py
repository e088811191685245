"""One response out of a connection's bytes: httptools callbacks, used by both clients (sans-IO).

Framing follows RFC 9112 section 6.3 (httptools/llhttp does the parsing):
- Content-Length, or ``Transfer-Encoding: chunked`` (chunk extensions ignored; trailer fields
  kept apart in ``trailers``, never merged into ``headers``).
- No length and no chunked coding: the body runs until the server closes. ``feed_eof`` then
  completes the response (a whole answer, not a failure); the connection is not reused.
- 1xx interim responses (``100 Continue``, ``103 Early Hints``) are skipped: the final
  response follows on the same bytes. A ``101`` (we never ask to switch) is malformed.
- HEAD responses (``head_only``), 204 and 304 have no body whatever their headers say.
- ``keep_alive`` is httptools' verdict (HTTP/1.1 without ``Connection: close``, or 1.0 with
  ``keep-alive``), and false for a close-delimited body or when bytes follow the response.
- A body over ``max_body_bytes`` is ``MalformedResponse`` (nothing unbounded is buffered).

The reader and its parser refer to each other: the link is cut (``release``) as soon as the
response is complete or fails, so that reference counting frees both at once. Left to the
cyclic collector, thousands of them (a callback each) piled up between collections and
made some collections pause the event loop for ~90 ms. A shell that abandons a reader
half-way (a timeout) calls ``release`` itself.
"""

from __future__ import annotations

import httptools


class MalformedResponse(Exception):
    """Bytes that are not an HTTP/1.1 response, or a body over the limit."""


class IncompleteResponse(Exception):
    """The server closed the connection before the end of a framed response."""


class _BytesAfterResponse(Exception):
    """A second message began in the bytes after the response: stop parsing there."""


class ResponseReader:
    """Feed it bytes (``feed``) and the end of the stream (``feed_eof``) until ``complete``."""

    __slots__ = ("body", "complete", "framed", "head_only", "headers", "keep_alive",
                 "max_body_bytes", "parser", "started", "status", "trailers")  # fmt: skip

    def __init__(self, max_body_bytes: int, *, head_only: bool = False) -> None:
        self.max_body_bytes = max_body_bytes
        self.head_only = head_only
        self.complete = self.keep_alive = self.framed = self.started = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.trailers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)

    # httptools callbacks ---------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.complete:
            raise _BytesAfterResponse

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.started:  # after the head of the final response: a chunked body's trailer
            self.trailers.append((name, value))
            return
        lname = name.lower()
        if lname == b"content-length":
            self.framed = True
        elif lname == b"transfer-encoding":
            # Chunked only when it is the last coding; otherwise the body runs to the close.
            self.framed = value.rpartition(b",")[2].strip().lower() == b"chunked"
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.parser is not None  # only the parser calls this
        self.status = self.parser.get_status_code()
        if self.status >= 200:
            self.started = True
            if self.head_only:  # no body follows, whatever the headers say
                self.keep_alive, self.complete = self.parser.should_keep_alive(), True

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) > self.max_body_bytes:
            raise MalformedResponse(f"response body over {self.max_body_bytes} bytes")
        self.body += body

    def on_message_complete(self) -> None:
        # Read now: the parser resets for the next message once this callback returns.
        assert self.parser is not None
        if self.status < 200:  # "100 Continue" and the like: the answer follows
            self.headers.clear()
            self.framed = False
        elif not self.complete:
            self.keep_alive, self.complete = self.parser.should_keep_alive(), True

    # -----------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray) -> None:
        """Parse ``data``; raises ``MalformedResponse``."""
        assert self.parser is not None  # cleared only once complete
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.release()
            raise MalformedResponse("unrequested protocol switch") from None
        except httptools.HttpParserError as exc:
            self.release()
            cause = exc.__context__  # httptools re-raises a callback's exception as context
            if isinstance(cause, _BytesAfterResponse):
                self.keep_alive = False  # unsolicited bytes: the connection is not reusable
                return
            if isinstance(cause, MalformedResponse):
                raise cause from None
            raise MalformedResponse(str(cause or exc)) from None
        if self.complete:
            self.release()

    def feed_eof(self) -> None:
        """The server closed the connection: the end of a close-delimited body, else
        ``IncompleteResponse``."""
        self.release()
        if self.complete:
            return
        if self.started and not self.framed:
            self.complete, self.keep_alive = True, False
            return
        raise IncompleteResponse("connection closed mid-response")

    def release(self) -> None:
        self.parser = None

"""A lean keep-alive HTTP/1.1 client for the engine's highest-volume outbound requests.

Why not httpx2 here: measured on this project's 2-core machine, an httpx2 POST costs about
1 ms of CPU (building request and response models, URL merging, auth and redirect hooks,
pool bookkeeping), which caps delivery-status callbacks at a few hundred per second per
core; the contract's volume needs thousands. Callbacks need none of that machinery: a JSON
POST to a fixed URL and the status code back. So this client does exactly that, with the
same parser the ingress uses (httptools), and httpx2 stays the client for everything else.

Rules:
- One idle-connection stack per origin (scheme, host, port), bounded; a connection is
  reused only after its previous response was read to the end and allowed keep-alive.
- https goes through ``trio.SSLStream`` with certificate and host name verification.
- ``timeout`` bounds the whole request (connect, send, response) as one cancel scope.
- A reused connection that the server had already closed (no response byte received) is
  retried once on a new connection, as other clients do for idle keep-alive races.
- Response bodies are read and discarded, at most ``MAX_RESPONSE_BYTES``.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httptools
import trio

MAX_RESPONSE_BYTES = 1 << 20
READ_SIZE = 16_384


class HttpClientError(Exception):
    """No HTTP answer: connection refused or reset, TLS failure, malformed response."""


class _Response:
    __slots__ = ("complete", "keep_alive", "parser", "size", "status")

    def __init__(self) -> None:
        self.complete = False
        self.keep_alive = False
        self.status = 0
        self.size = 0
        # The parser and this object refer to each other: ``_exchange`` drops the link when
        # done, so reference counting frees both at once. Left to the cyclic collector,
        # thousands of them (a callback each) piled up between collections and made some
        # collections pause the event loop for ~90 ms.
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_RESPONSE_BYTES:
            raise HttpClientError("response body too large")

    def on_message_complete(self) -> None:
        # Read now: the parser resets for the next message once this callback returns.
        assert self.parser is not None  # only the parser calls this
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    def feed(self, data: bytes | bytearray) -> None:
        assert self.parser is not None  # cleared only after the exchange
        self.parser.feed_data(data)


class _Connection:
    __slots__ = ("stream", "used")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.used = False


class Http11Client:
    def __init__(
        self,
        *,
        timeout: float = 5.0,
        max_idle_per_origin: int = 64,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_idle = max_idle_per_origin
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body``; return the status code. Raises ``trio.TooSlowError`` after
        ``timeout`` seconds and ``HttpClientError`` when there is no HTTP answer."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpClientError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        https = parts.scheme == "https"
        origin = (parts.scheme, parts.hostname, parts.port or (443 if https else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rpartition("@")[2]
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        with trio.fail_after(self.timeout):
            for _ in range(2):
                connection = await self._connection(origin)
                reused = connection.used
                try:
                    status, keep_alive = await self._exchange(connection, request)
                except _StaleConnection:
                    await trio.aclose_forcefully(connection.stream)
                    if reused:
                        continue  # the server closed it while idle: once more, fresh
                    raise HttpClientError("connection closed before a response") from None
                except BaseException:
                    await trio.aclose_forcefully(connection.stream)
                    raise
                if keep_alive and len(self._idle.setdefault(origin, [])) < self.max_idle:
                    self._idle[origin].append(connection)
                else:
                    await trio.aclose_forcefully(connection.stream)
                return status
        raise HttpClientError("connection closed before a response")  # pragma: no cover

    async def _connection(self, origin: tuple[str, str, int]) -> _Connection:
        idle = self._idle.get(origin)
        if idle:
            return idle.pop()
        scheme, host, port = origin
        try:
            stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise HttpClientError(f"cannot connect: {exc}") from None
        if scheme == "https":
            tls = trio.SSLStream(stream, self._ssl or ssl.create_default_context(),
                                 server_hostname=host)  # fmt: skip
            try:
                await tls.do_handshake()
            except BaseException as exc:
                await trio.aclose_forcefully(stream)
                if isinstance(exc, (OSError, trio.BrokenResourceError, ssl.SSLError)):
                    raise HttpClientError(f"TLS handshake failed: {exc}") from None
                raise
            stream = tls
        return _Connection(stream)

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[int, bool]:
        response = _Response()
        received = 0
        try:
            await connection.stream.send_all(request)
            while not response.complete:
                data = await connection.stream.receive_some(READ_SIZE)
                if not data:
                    if received == 0:
                        raise _StaleConnection
                    raise HttpClientError("connection closed mid-response")
                received += len(data)
                response.feed(data)
        except (trio.BrokenResourceError, OSError) as exc:
            if received == 0:
                raise _StaleConnection from None
            raise HttpClientError(f"connection lost: {exc}") from None
        except httptools.HttpParserError as exc:
            raise HttpClientError(f"malformed response: {exc}") from None
        finally:
            response.parser = None
        connection.used = True
        return response.status, response.keep_alive

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                await trio.aclose_forcefully(connection.stream)
        self._idle.clear()


class _StaleConnection(Exception):
    """Nothing came back on this connection: it was closed before our request."""

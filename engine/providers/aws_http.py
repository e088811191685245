"""A lean aiobotocore HTTP session: keep-alive HTTP/1.1 on trio sockets, for SES, SNS and SQS.

Why: py-spy of ``bench/engine.py --provider ses`` put aiobotocore's ``HttpxSession.send``
(httpx2 client, httpcore2 pool, h11, response reading) at ~11% of the engine's CPU. An AWS
call needs none of that: a signed request to one endpoint and its whole answer. This session
sends it as ``engine/http_client.py`` sends callbacks: httptools, trio sockets, trio.SSLStream.

Rules:
- It subclasses ``HttpxSession``: aiobotocore uses trio-capable (anyio) sleeps, locks and
  credential refreshers only for its subclasses. The parent takes the constructor arguments
  and, in ``__aenter__``, builds the TLS context off the event loop (``verify`` True, False
  or a CA bundle; ``connector_args["ssl_context"]``; ``client_cert``) and resolves proxies.
  The parent (httpx2) also sends what this session does not: requests of a scheme with a
  proxy, and streamed outputs (``request.stream_output``: S3 bodies, event streams).
- Per origin at most ``max_pool_connections`` connections (a ``trio.Semaphore``: callers
  beyond it wait, up to ``pool_timeout``). Idle ones are reused newest first, while younger
  than ``keepalive_timeout`` and not readable (readable when idle: the server closed it).
- Timeouts are trio cancel scopes, applied as httpx applies them: pool wait, connect (TCP and
  TLS), then write and read, both restarted by every chunk. ``context["read_timeout"]`` wins.
- Errors become botocore's, as ``HttpxSession`` maps them: refused or unresolvable ->
  EndpointConnectionError; TLS -> SSLError; read timeout -> ReadTimeoutError; pool, connect
  and write timeouts -> ConnectTimeoutError; connection lost before the whole response ->
  ConnectionClosedError; anything else -> HTTPClientError.
- Bodies (bytes, bytearray, str, a sync or async file-like ``read``, None) are sent from
  memory with a Content-Length; chunked only when the request says ``Transfer-Encoding:
  chunked``. A reused connection that gave no response byte is retried once on a new one.
- Responses are read whole (at most ``MAX_RESPONSE_BYTES``): Content-Length, chunked or
  read-to-close; 1xx skipped; not decoded (``Accept-Encoding: identity`` unless the request
  set one), as in botocore's own session.
- A reader and its parser refer to each other: the link is cut when the response is done so
  that reference counting frees both (cyclic garbage made long GC pauses; http_client.py).
"""

from __future__ import annotations

import inspect
import select
import ssl
from typing import Any
from urllib.parse import urlsplit

import httptools
import trio
from aiobotocore._constants import DEFAULT_KEEPALIVE_TIMEOUT
from aiobotocore.awsrequest import AioAWSResponse
from aiobotocore.httpxsession import HttpxSession, _find_ssl_error
from botocore.endpoint import MAX_POOL_CONNECTIONS
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)

MAX_RESPONSE_BYTES = 16 << 20
CHUNK = 65_536


class _Reader:
    """httptools callbacks for one response."""

    __slots__ = ("body", "complete", "framed", "head_only", "headers", "keep_alive", "parser",
                 "started", "status")  # fmt: skip

    def __init__(self, head_only: bool) -> None:
        self.head_only = head_only
        self.complete = self.keep_alive = self.framed = self.started = False
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self.parser is not None  # only the parser calls this
        self.status, self.started = self.parser.get_status_code(), True
        if self.head_only and self.status >= 200:  # no body follows, whatever the headers say
            self.keep_alive, self.complete = self.parser.should_keep_alive(), True

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) > MAX_RESPONSE_BYTES:
            raise ValueError(f"response body over {MAX_RESPONSE_BYTES} bytes")
        self.body += body

    def on_message_complete(self) -> None:
        # Read now: the parser resets for the next message once this callback returns.
        assert self.parser is not None
        if self.status < 200:  # "100 Continue" and the like: the answer follows
            self.headers.clear()
            self.framed = self.started = False
        else:
            self.keep_alive, self.complete = self.parser.should_keep_alive(), True


class _Body:
    """``AioAWSResponse.raw``: the body, already read in full."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self) -> bytes:
        return self.data


class _Connection:
    __slots__ = ("idle_since", "sock", "stream", "used")

    def __init__(self, stream: trio.abc.Stream, sock: trio.socket.SocketType) -> None:
        self.stream, self.sock, self.used, self.idle_since = stream, sock, False, 0.0

    def close(self) -> None:
        self.sock.close()  # forceful and without a checkpoint, like trio.aclose_forcefully

    def readable(self) -> bool:
        poll = select.poll()
        poll.register(self.sock.fileno(), select.POLLIN)
        return bool(poll.poll(0))


class _Origin:
    """One scheme, host and port: its Host header, connection slots and idle connections."""

    __slots__ = ("host", "host_header", "https", "idle", "port", "slots")

    def __init__(self, prefix: str, size: int) -> None:
        parts = urlsplit(prefix)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {prefix}")
        self.https = parts.scheme == "https"
        default = 443 if self.https else 80
        self.host, self.port = parts.hostname, parts.port or default
        # What botocore's signer signed: lower case, IPv6 in brackets, no default port.
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = name if parts.port in (None, default) else f"{name}:{parts.port}"
        self.slots = trio.Semaphore(max(1, size))
        self.idle: list[_Connection] = []


class _Stale(Exception):
    """Nothing came back on this connection: it was closed before our request."""


def _seconds(value: float | None) -> float:
    return float("inf") if value is None else float(value)


class AwsHttpSession(HttpxSession):  # type: ignore[misc]
    def __init__(
        self,
        *,
        timeout: float | tuple[float, float] | list[float] | None = None,
        max_pool_connections: int = MAX_POOL_CONNECTIONS,
        connector_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, max_pool_connections=max_pool_connections,
                         connector_args=connector_args, **kwargs)  # fmt: skip
        connect, read = timeout if isinstance(timeout, (list, tuple)) else (timeout, timeout)
        args = connector_args or {}
        self._connect_s, self._read_s = _seconds(connect), _seconds(read)
        self._write_s = _seconds(args.get("write_timeout", 5))  # HttpxSession's defaults
        self._pool_s = _seconds(args.get("pool_timeout", 5))
        self._keepalive_s = _seconds(args.get("keepalive_timeout", DEFAULT_KEEPALIVE_TIMEOUT))
        self._size = max_pool_connections
        self._origins: dict[str, _Origin] = {}
        self._closed = False

    async def __aenter__(self) -> AwsHttpSession:
        await super().__aenter__()
        if not isinstance(self._verify, ssl.SSLContext):  # pragma: no cover - parent contract
            raise TypeError("HttpxSession.__aenter__ did not build an SSLContext")
        self._closed = False
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._closed = True
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.pop().close()
        return await super().__aexit__(*exc_info)

    async def send(self, request: Any) -> Any:
        url: str = request.url
        start = url.find("://") + 3
        if url[: start - 3] in self._proxy_urls or getattr(request, "stream_output", False):
            return await super().send(request)
        end = len(url)
        for mark in "/?":  # the request target starts at the first of these after the host
            found = url.find(mark, start)
            if 0 <= found < end:
                end = found
        target = url[end:] if url.startswith("/", end) else "/" + url[end:]
        try:
            origin = self._origins.get(url[:end])
            if origin is None:
                origin = self._origins[url[:end]] = _Origin(url[:end], self._size)
            return await self._send(origin, request, await _message(origin, request, target))
        except BotoCoreError:
            raise
        except Exception as exc:  # as HttpxSession: anything else is an HTTP client error
            raise HTTPClientError(error=exc) from exc

    async def _send(
        self, origin: _Origin, request: Any, message: tuple[bytes, bytes]
    ) -> AioAWSResponse:
        url: str = request.url
        override = (getattr(request, "context", None) or {}).get("read_timeout")
        read_s = self._read_s if override is None else float(override)
        try:
            origin.slots.acquire_nowait()
        except trio.WouldBlock:
            with trio.move_on_after(self._pool_s) as waiting:
                await origin.slots.acquire()
            if waiting.cancelled_caught:
                raise ConnectTimeoutError(
                    endpoint_url=url, error="no free connection in time"
                ) from None
        try:
            for _ in range(2):
                connection = await self._connection(origin, url)
                reused = connection.used
                reader = _Reader(head_only=request.method == "HEAD")
                try:
                    await self._exchange(connection, message, reader, read_s, url)
                except _Stale:
                    connection.close()
                    if reused:
                        continue  # the server closed it while idle: once more, on a new one
                    raise ConnectionClosedError(endpoint_url=url) from None
                except BaseException:
                    connection.close()
                    raise
                finally:
                    reader.parser = None
                if reader.keep_alive and not self._closed:
                    connection.used, connection.idle_since = True, trio.current_time()
                    origin.idle.append(connection)
                else:
                    connection.close()
                return AioAWSResponse(url, reader.status, reader.headers, _Body(bytes(reader.body)))
        finally:
            origin.slots.release()
        raise ConnectionClosedError(endpoint_url=url)  # pragma: no cover

    async def _connection(self, origin: _Origin, url: str) -> _Connection:
        now = trio.current_time()
        while origin.idle:
            connection = origin.idle.pop()
            if now - connection.idle_since < self._keepalive_s and not connection.readable():
                return connection
            connection.close()
        with trio.move_on_after(self._connect_s):
            try:
                tcp = await trio.open_tcp_stream(origin.host, origin.port)
            except OSError as exc:
                raise EndpointConnectionError(endpoint_url=url, error=exc) from None
            for option in self._socket_options:  # botocore's: TCP_NODELAY, SO_KEEPALIVE
                tcp.setsockopt(*option)
            if not origin.https:
                return _Connection(tcp, tcp.socket)
            tls = trio.SSLStream(tcp, self._verify, server_hostname=origin.host)
            try:
                await tls.do_handshake()
            except BaseException as exc:
                tcp.socket.close()
                if not isinstance(exc, (OSError, trio.BrokenResourceError)):
                    raise
                if (cause := _find_ssl_error(exc)) is not None:
                    raise SSLError(endpoint_url=url, error=cause) from None
                raise EndpointConnectionError(endpoint_url=url, error=exc) from None
            return _Connection(tls, tcp.socket)
        raise ConnectTimeoutError(endpoint_url=url, error="connect timed out")

    async def _exchange(
        self,
        connection: _Connection,
        message: tuple[bytes, bytes],
        reader: _Reader,
        read_s: float,
        url: str,
    ) -> None:
        stream, received, reading = connection.stream, 0, False
        try:
            with trio.move_on_after(self._write_s) as scope:  # one scope: write, then read
                await self._write(stream, *message, scope)
                reading = True
                scope.deadline = trio.current_time() + read_s
                while not reader.complete:
                    data = await stream.receive_some(CHUNK)
                    if not data:
                        if reader.started and not reader.framed:
                            break  # a read-to-close body ends here (and so does the connection)
                        if received:
                            raise ConnectionClosedError(endpoint_url=url)
                        raise _Stale
                    received += len(data)
                    scope.deadline = trio.current_time() + read_s
                    assert reader.parser is not None  # cleared only after the exchange
                    reader.parser.feed_data(data)
            if scope.cancelled_caught and reading:
                raise ReadTimeoutError(endpoint_url=url, error="read timed out")
            if scope.cancelled_caught:
                raise ConnectTimeoutError(endpoint_url=url, error="write timed out")
        except BotoCoreError:  # before OSError: botocore's timeout errors derive from it
            raise
        except (trio.BrokenResourceError, OSError) as exc:
            if received == 0:
                raise _Stale from None
            raise ConnectionClosedError(endpoint_url=url, error=exc) from None
        except httptools.HttpParserError as exc:  # a callback's own error is the context
            raise HTTPClientError(error=exc.__context__ or exc) from None

    async def _write(self, stream: trio.abc.Stream, head: bytes, body: bytes,
                     scope: trio.CancelScope) -> None:  # fmt: skip
        """Send the request; every chunk restarts the write timeout, as in httpx."""
        if len(body) <= CHUNK:
            await stream.send_all(head + body)
            return
        await stream.send_all(head)
        view = memoryview(body)
        for offset in range(0, len(view), CHUNK):
            scope.deadline = trio.current_time() + self._write_s
            await stream.send_all(view[offset : offset + CHUNK])


async def _message(origin: _Origin, request: Any, target: str) -> tuple[bytes, bytes]:
    """The request head, and the body as it goes on the wire."""
    body = request.body
    if hasattr(body, "read"):  # a file-like object, sync or async: read whole
        body = body.read()
        if inspect.isawaitable(body):
            body = await body
    if isinstance(body, str):
        body = body.encode()
    elif body is not None and not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"unsupported request body: {type(body).__name__}")
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    declared = chunked = accept_encoding = False
    for name, value in request.headers.items():
        text = value.decode() if isinstance(value, bytes) else str(value)
        key = name.lower()
        if key == "host":
            lines[1] = f"Host: {text}"
        elif key == "content-length":
            declared = True
        elif key == "transfer-encoding":
            chunked = "chunked" in text.lower()
        else:
            accept_encoding = accept_encoding or key == "accept-encoding"
            lines.append(f"{name}: {text}")
    if not accept_encoding:
        lines.append("Accept-Encoding: identity")  # botocore/botocore#1255: no decoding
    data = bytes(body or b"")
    if chunked:  # only when the request asks for it (aws-chunked S3 uploads)
        lines.append("Transfer-Encoding: chunked")
        data = (b"%x\r\n%s\r\n" % (len(data), data) if data else b"") + b"0\r\n\r\n"
    elif body is not None or declared:
        lines.append(f"Content-Length: {len(data)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head.count(b"\n") != len(lines) + 1 or head.count(b"\r") != len(lines) + 1:
        raise ValueError("a line break inside a request header")
    return head, data

"""A lean aiobotocore HTTP session: keep-alive HTTP/1.1 on trio sockets, for SES, SNS and SQS.

Why: py-spy of ``bench/engine.py --provider ses`` put aiobotocore's ``HttpxSession.send``
(httpx2 client, httpcore2 pool, h11, response reading) at ~11% of the engine's CPU. An AWS
call needs none of that: a signed request to one endpoint and its whole answer. This session
sends it as ``client.py`` sends callbacks, through ``pool.py`` (httptools, trio sockets,
trio.SSLStream); this module is only botocore's layer over it.

Rules:
- It subclasses ``HttpxSession``: aiobotocore uses trio-capable (anyio) sleeps, locks and
  credential refreshers only for its subclasses. The parent takes the constructor arguments
  and, in ``__aenter__``, builds the TLS context off the event loop (``verify`` True, False
  or a CA bundle; ``connector_args["ssl_context"]``; ``client_cert``) and resolves proxies.
  The parent (httpx2) also sends what this session does not: requests of a scheme with a
  proxy, and streamed outputs (``request.stream_output``: S3 bodies, event streams).
- Per origin at most ``max_pool_connections`` connections (a ``trio.Semaphore``: callers
  beyond it wait, up to ``pool_timeout``). Idle ones are reused while younger than
  ``keepalive_timeout`` (the pool's other rules apply: newest first, not readable).
- Timeouts are the pool's per-phase ones (connect, write, read; write and read restarted by
  every chunk), plus the pool wait. ``context["read_timeout"]`` wins over the read timeout.
- Errors become botocore's, as ``HttpxSession`` maps them: refused or unresolvable ->
  EndpointConnectionError; TLS -> SSLError; read timeout -> ReadTimeoutError; pool, connect
  and write timeouts -> ConnectTimeoutError; connection lost before the whole response ->
  ConnectionClosedError; anything else -> HTTPClientError.
- Bodies (bytes, bytearray, str, a sync or async file-like ``read``, None) are sent from
  memory with a Content-Length; chunked only when the request says ``Transfer-Encoding:
  chunked``. A reused connection that gave no response byte is retried once on a new one.
- Responses are read whole (at most ``MAX_RESPONSE_BYTES``; framing in
  ``response_reader.py``), not decoded (``Accept-Encoding: identity`` unless the request
  set one), as in botocore's own session.
"""

from __future__ import annotations

import inspect
import ssl
from typing import Any

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

from engine.http1.pool import (
    ConnectFailed,
    ConnectionLost,
    ConnectionPool,
    ExchangeError,
    Origin,
    PhaseTimeout,
    Timeouts,
    TlsFailed,
)
from engine.http1.response_reader import MalformedResponse

MAX_RESPONSE_BYTES = 16 << 20


class _Body:
    """``AioAWSResponse.raw``: the body, already read in full."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self) -> bytes:
        return self.data


def _seconds(value: float | None) -> float:
    return float("inf") if value is None else float(value)


class AwsHttpSession(HttpxSession):  # type: ignore[misc]  # aiobotocore ships no types
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
        self._timeouts = Timeouts(
            connect=_seconds(connect),
            write=_seconds(args.get("write_timeout", 5)),  # HttpxSession's defaults
            read=_seconds(read),
        )
        self._pool_s = _seconds(args.get("pool_timeout", 5))
        self._keepalive_s = _seconds(args.get("keepalive_timeout", DEFAULT_KEEPALIVE_TIMEOUT))
        self._size = max(1, max_pool_connections)
        self._slots: dict[str, trio.Semaphore] = {}
        self._pool = ConnectionPool()

    async def __aenter__(self) -> AwsHttpSession:
        await super().__aenter__()
        if not isinstance(self._verify, ssl.SSLContext):  # pragma: no cover - parent contract
            raise TypeError("HttpxSession.__aenter__ did not build an SSLContext")
        self._pool = ConnectionPool(
            ssl_context=self._verify,
            max_idle_per_origin=self._size,
            keepalive_seconds=self._keepalive_s,
            socket_options=self._socket_options,  # botocore's: TCP_NODELAY, SO_KEEPALIVE
        )
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._pool.close()
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
            origin = self._pool.origin(url[:end])
            message = await _message(origin, request, target)
            return await self._send(url[:end], origin, request, message)
        except BotoCoreError:
            raise
        except Exception as exc:  # as HttpxSession: anything else is an HTTP client error
            raise HTTPClientError(error=exc) from exc

    async def _send(
        self, prefix: str, origin: Origin, request: Any, message: tuple[bytes, bytes]
    ) -> AioAWSResponse:
        url: str = request.url
        timeouts = self._timeouts
        override = (getattr(request, "context", None) or {}).get("read_timeout")
        if override is not None:
            timeouts = Timeouts(timeouts.connect, timeouts.write, float(override))
        slots = self._slots.get(prefix)
        if slots is None:
            slots = self._slots[prefix] = trio.Semaphore(self._size)
        try:
            slots.acquire_nowait()
        except trio.WouldBlock:
            with trio.move_on_after(self._pool_s) as waiting:
                await slots.acquire()
            if waiting.cancelled_caught:
                raise ConnectTimeoutError(
                    endpoint_url=url, error="no free connection in time"
                ) from None
        try:
            response = await self._pool.request(origin, message, MAX_RESPONSE_BYTES,
                                                head_only=request.method == "HEAD",
                                                timeouts=timeouts)  # fmt: skip
        except ExchangeError as exc:
            raise _botocore_error(exc, url) from None
        except MalformedResponse as exc:
            raise HTTPClientError(error=exc) from None
        finally:
            slots.release()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
        return AioAWSResponse(url, response.status, headers, _Body(bytes(response.body)))


def _botocore_error(exc: ExchangeError, url: str) -> BotoCoreError:
    """The error ``HttpxSession`` raises for the same failure."""
    if isinstance(exc, ConnectFailed):
        return EndpointConnectionError(endpoint_url=url, error=exc.error)
    if isinstance(exc, TlsFailed):
        if (cause := _find_ssl_error(exc.error)) is not None:
            return SSLError(endpoint_url=url, error=cause)
        return EndpointConnectionError(endpoint_url=url, error=exc.error)
    if isinstance(exc, PhaseTimeout):
        if exc.phase == "read":
            return ReadTimeoutError(endpoint_url=url, error=str(exc))
        return ConnectTimeoutError(endpoint_url=url, error=str(exc))
    if isinstance(exc, ConnectionLost) and exc.error is not None:
        return ConnectionClosedError(endpoint_url=url, error=exc.error)
    return ConnectionClosedError(endpoint_url=url)


async def _message(origin: Origin, request: Any, target: str) -> tuple[bytes, bytes]:
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

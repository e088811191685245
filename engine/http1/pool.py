"""Keep-alive connections per origin and one request's round trip on one of them.

Used by both clients (``client.py`` for callbacks, ``aws_session.py`` for aiobotocore); each
adds only its own layer: how errors are named, an overall or per-phase timeout, a bound.

Rules:
- An origin is a scheme, host and port. Its idle connections are a stack (newest reused
  first), at most ``max_idle_per_origin``; one is reused only when its previous response
  was read to the end and allowed keep-alive, it is younger than ``keepalive_seconds``, and
  it is not readable (readable while idle: the server closed it or sent stray bytes, such
  as a 408 before an idle timeout). The check is a ``poll`` system call, made only for a
  connection idle for ``QUIET_SECONDS`` or more: servers close idle connections after
  seconds, not milliseconds, and a closed one is caught by the stale-connection rule
  anyway. Checked on every reuse it cost ~30% of a callback's CPU (``bench/callbacks.py
  --count 20000``: 140 against 105 us a callback, with the check only after a quiet second).
- The one stale-connection rule: a reused connection that fails before any response byte
  (closed, reset) is closed and the request is retried once on a new connection, as other
  clients do for the idle keep-alive race. On a new connection the same failure is
  ``ClosedBeforeResponse``; a failure after some response bytes is ``ConnectionLost``.
- With an ``address_check`` (the callback client's SSRF rule, ``engine.domain.callback_urls``)
  a new connection resolves the host itself, refuses it (``AddressRefused``) if any address
  fails the check, and connects to the checked addresses only, so a name cannot resolve to
  a public address for the check and a private one for the connection.
- http goes through the socket itself (``client_sockets.PlainStream``: no trio stream
  layers per call); https through ``trio.SSLStream`` with certificate and host name
  verification (the ``ssl_context`` given, else the default one).
- ``Timeouts`` are per phase, as httpx applies them: connect (TCP and TLS), then write and
  read, both restarted by every chunk; ``PhaseTimeout`` says which one ran out. One cancel
  scope per request, moved from phase to phase (entering scopes per chunk costs more), and
  none when there are no phase timeouts (``NO_TIMEOUTS``, the callback client, which
  bounds the whole request with a watchdog's ticket): entering and leaving even an
  infinite scope cost ~6 µs, measured, about 8% of a loopback callback POST (client and
  server).
- Or a request is bounded by a watchdog's ticket (``engine.watchdog``, the callback
  client): a connect gets the time the ticket has left (a cancel scope: new connections
  only), and the exchange is interrupted when it expires (``notify_closing`` on the
  socket: the waiting send or receive fails); any failure of an expired ticket's request
  is ``PhaseTimeout("deadline")``, and its connection is closed, never retried.
- Closing a connection closes its socket at once: forceful and without a checkpoint, as
  ``trio.aclose_forcefully`` but without the await.
- Responses are read by ``response_reader.py`` (the framing rules are there).
"""

from __future__ import annotations

import math
import select
import socket as stdsocket
import ssl
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec
import trio

from engine.http1.client_sockets import PlainStream
from engine.http1.response_reader import IncompleteResponse, ResponseReader
from engine.watchdog import Ticket, nothing_to_wake

READ_SIZE = 16_384
# A connection idle for less than this is reused without the readability check (see rules).
QUIET_SECONDS = 1.0
WRITE_CHUNK = 65_536


class ExchangeError(Exception):
    """No complete HTTP answer; the subclasses say why."""


class ConnectFailed(ExchangeError):
    """TCP connect failed (refused, unresolvable, unreachable); ``error`` is the OSError."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"cannot connect: {error}")
        self.error = error


class AddressRefused(ExchangeError):
    """The host resolves to an address the ``address_check`` refuses."""


class TlsFailed(ExchangeError):
    """The TLS handshake failed; ``error`` is what trio raised."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"TLS handshake failed: {error}")
        self.error = error


class PhaseTimeout(ExchangeError):
    """``phase`` ("connect", "write" or "read") took longer than its timeout."""

    def __init__(self, phase: str) -> None:
        super().__init__(f"{phase} timed out")
        self.phase = phase


class ClosedBeforeResponse(ExchangeError):
    """A new connection closed before any response byte."""


class ConnectionLost(ExchangeError):
    """The connection closed or failed after some response bytes; ``error`` if any."""

    def __init__(self, message: str, error: BaseException | None = None) -> None:
        super().__init__(message)
        self.error = error


class _Stale(Exception):
    """Nothing came back on this connection: it was closed before our request."""


class Timeouts(msgspec.Struct, frozen=True):
    connect: float = math.inf
    write: float = math.inf
    read: float = math.inf


NO_TIMEOUTS = Timeouts()


class Origin:
    """One scheme, host and port: its Host header and its idle connections."""

    __slots__ = ("forgotten", "host", "host_header", "https", "idle", "port")

    def __init__(self, prefix: str) -> None:
        parts = urlsplit(prefix)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        self.https = parts.scheme == "https"
        default = 443 if self.https else 80
        self.host, self.port = parts.hostname, parts.port or default
        # What botocore's signer signed: lower case, IPv6 in brackets, no default port.
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = name if parts.port in (None, default) else f"{name}:{parts.port}"
        self.idle: list[ClientConnection] = []
        self.forgotten = False  # dropped by ``ConnectionPool.forget``: keep nothing idle


class ByteStream(Protocol):
    """What a connection's stream is used for: ``PlainStream`` (http), ``trio.SSLStream``."""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None: ...

    async def receive_some(self, max_bytes: int) -> bytes | bytearray: ...


class ClientConnection:
    __slots__ = ("idle_since", "sock", "stream", "used")

    def __init__(self, stream: ByteStream, sock: trio.socket.SocketType | stdsocket.socket) -> None:
        self.stream, self.sock, self.used, self.idle_since = stream, sock, False, 0.0

    def close(self) -> None:
        """Forceful and without a checkpoint, like ``trio.aclose_forcefully``."""
        self.interrupt()  # no wait left on the file descriptor
        self.sock.close()

    def interrupt(self) -> None:
        """Wake a send or receive waiting on this connection: it fails (a ticket expired)."""
        if self.sock.fileno() != -1:
            trio.lowlevel.notify_closing(self.sock)

    def readable(self) -> bool:
        poll = select.poll()
        poll.register(self.sock.fileno(), select.POLLIN)
        return bool(poll.poll(0))


class ConnectionPool:
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_per_origin: int = 64,
        keepalive_seconds: float = math.inf,
        socket_options: Iterable[tuple[Any, ...]] = (),
        address_check: Callable[[str], str | None] | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.address_check = address_check
        self.max_idle = max_idle_per_origin
        self.keepalive_seconds = keepalive_seconds
        self.socket_options = list(socket_options)
        self.closed = False
        self._origins: dict[str, Origin] = {}

    def origin(self, prefix: str) -> Origin:
        """The origin of ``prefix`` (``scheme://host[:port]``), made once."""
        origin = self._origins.get(prefix)
        if origin is None:
            origin = self._origins[prefix] = Origin(prefix)
        return origin

    async def request(
        self,
        origin: Origin,
        message: tuple[bytes, bytes],
        max_body_bytes: int,
        *,
        head_only: bool = False,
        timeouts: Timeouts = NO_TIMEOUTS,
        ticket: Ticket | None = None,
    ) -> ResponseReader:
        """Send ``message`` (head, body); return the complete response. Raises an
        ``ExchangeError`` or ``MalformedResponse``. With ``ticket`` (and no ``timeouts``),
        the ticket bounds the whole request (the module's rules)."""
        for _ in range(2):
            # An idle connection is taken without a checkpoint (the common case: no await).
            connection = self._idle_connection(origin)
            if connection is None:
                connect_seconds = timeouts.connect
                if ticket is not None:
                    left = max(0.0, ticket.deadline - trio.current_time())
                    connect_seconds = min(connect_seconds, left)
                connection = await self._connect(origin, connect_seconds)
            reused = connection.used
            answer = ResponseReader(max_body_bytes, head_only=head_only)
            try:
                if ticket is not None:
                    ticket.wake = connection.interrupt
                if timeouts is NO_TIMEOUTS:  # no cancel scope at all: see the module's rules
                    await _transfer(connection.stream, message, answer, None, timeouts)
                else:
                    await round_trip(connection.stream, message, answer, timeouts)
            except _Stale:
                connection.close()
                if ticket is not None and ticket.expired:
                    raise PhaseTimeout("deadline") from None
                if reused:
                    continue  # the server closed it while idle: once more, on a new one
                raise ClosedBeforeResponse("connection closed before a response") from None
            except Exception:
                connection.close()
                if ticket is not None and ticket.expired:
                    raise PhaseTimeout("deadline") from None
                raise
            except BaseException:
                connection.close()
                raise
            finally:
                answer.release()
                if ticket is not None:
                    ticket.wake = nothing_to_wake
            if (
                answer.keep_alive and not self.closed and not origin.forgotten
                and len(origin.idle) < self.max_idle
            ):  # fmt: skip
                connection.used, connection.idle_since = True, trio.current_time()
                origin.idle.append(connection)
            else:
                connection.close()
            return answer
        raise ClosedBeforeResponse("connection closed before a response")  # pragma: no cover

    def _idle_connection(self, origin: Origin) -> ClientConnection | None:
        if not origin.idle:
            return None
        now = trio.current_time()
        while origin.idle:
            connection = origin.idle.pop()
            idle = now - connection.idle_since
            if idle < self.keepalive_seconds and (
                idle < QUIET_SECONDS or not connection.readable()
            ):
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, connect_seconds: float) -> ClientConnection:
        with trio.move_on_after(connect_seconds):
            try:
                if self.address_check is None:
                    tcp = await trio.open_tcp_stream(origin.host, origin.port)
                else:
                    tcp = await self._open_checked(origin)
            except OSError as exc:
                raise ConnectFailed(exc) from None
            for option in self.socket_options:  # e.g. botocore's TCP_NODELAY, SO_KEEPALIVE
                tcp.setsockopt(*option)
            if not origin.https:
                plain = PlainStream.from_trio(tcp)
                return ClientConnection(plain, plain.sock)
            context = self.ssl_context or ssl.create_default_context()
            tls = trio.SSLStream(tcp, context, server_hostname=origin.host)
            try:
                await tls.do_handshake()
            except BaseException as exc:
                tcp.socket.close()
                if isinstance(exc, (OSError, trio.BrokenResourceError, ssl.SSLError)):
                    raise TlsFailed(exc) from None
                raise
            return ClientConnection(tls, tcp.socket)
        raise PhaseTimeout("connect")

    async def _open_checked(self, origin: Origin) -> trio.SocketStream:
        assert self.address_check is not None
        found = await trio.socket.getaddrinfo(
            origin.host, origin.port, type=trio.socket.SOCK_STREAM
        )
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for address in addresses:
            problem = self.address_check(address)
            if problem is not None:
                raise AddressRefused(problem)
        failure: OSError = OSError(f"{origin.host} has no address")
        for address in addresses:  # in the resolver's order, as open_tcp_stream tries them
            try:
                return await trio.open_tcp_stream(address, origin.port)
            except OSError as exc:
                failure = exc
        raise failure

    def forget(self, prefix: str) -> None:
        """Close ``prefix``'s idle connections and drop the origin (its user has gone
        away: memory and sockets follow the origins in use). A request still in flight
        for it closes its connection when done."""
        origin = self._origins.pop(prefix, None)
        if origin is not None:
            origin.forgotten = True
            while origin.idle:
                origin.idle.pop().close()

    def close(self) -> None:
        self.closed = True
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.pop().close()


async def round_trip(
    stream: ByteStream,
    message: tuple[bytes, bytes],
    reader: ResponseReader,
    timeouts: Timeouts = NO_TIMEOUTS,
) -> None:
    """Write ``message`` and read the whole response into ``reader``. Raises ``_Stale`` when
    the connection failed before any response byte."""
    if timeouts is NO_TIMEOUTS:  # no cancel scope at all: see the module's rules
        await _transfer(stream, message, reader, None, timeouts)
        return
    phase = _Phase()
    with trio.move_on_after(timeouts.write) as phase.scope:  # one scope: write, then read
        await _transfer(stream, message, reader, phase, timeouts)
    if phase.scope.cancelled_caught:
        raise PhaseTimeout("read" if phase.reading else "write")


class _Phase:
    """The request's one cancel scope, and whether it now bounds the read."""

    __slots__ = ("reading", "scope")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.reading = False


async def _transfer(
    stream: ByteStream,
    message: tuple[bytes, bytes],
    reader: ResponseReader,
    phase: _Phase | None,
    timeouts: Timeouts,
) -> None:
    received = 0
    try:
        head, body = message
        if len(body) <= WRITE_CHUNK:  # one write, no extra coroutine (the common case)
            await stream.send_all(head + body)
        else:
            await _write(stream, head, body, phase, timeouts.write)
        if phase is not None:
            phase.reading = True
            phase.scope.deadline = trio.current_time() + timeouts.read
        while not reader.complete:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                if received == 0:
                    raise _Stale
                reader.feed_eof()  # a close-delimited body ends here, else incomplete
                break
            received += len(data)
            if phase is not None:
                phase.scope.deadline = trio.current_time() + timeouts.read
            reader.feed(data)
    except IncompleteResponse as exc:
        raise ConnectionLost(str(exc)) from None
    except (trio.BrokenResourceError, OSError) as exc:
        if received == 0:
            raise _Stale from None
        raise ConnectionLost(f"connection lost: {exc}", exc) from None


async def _write(stream: ByteStream, head: bytes, body: bytes, phase: _Phase | None,
                 write_seconds: float) -> None:  # fmt: skip
    """Send a large request; every chunk restarts the write timeout, as in httpx."""
    await stream.send_all(head)
    view = memoryview(body)
    for offset in range(0, len(view), WRITE_CHUNK):
        if phase is not None:
            phase.scope.deadline = trio.current_time() + write_seconds
        await stream.send_all(view[offset : offset + WRITE_CHUNK])

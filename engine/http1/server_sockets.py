"""The server's sockets: plain non-blocking stdlib calls, trio's waits only when needed.

Why not ``trio.SocketStream``: its layers (conflict detectors, context-manager helpers
around every call, a cancel scope per receive) were about a third of the built-in
server's CPU per request in a py-spy profile of ``bench/ingress.py``; the syscalls
themselves were a fifth. Here a call is tried first and only a would-block waits.

Rules:
- The calls themselves are ``socket_calls``' (shared with the client): ``receive`` tries
  ``recv`` and waits only when nothing is there; a receive that did not wait still
  checkpoints, so a client that pipelines without pause cannot starve the other
  connections and a drain's cancellation reaches the connection.
- Timeouts are not a cancel scope per wait (entering and leaving one cost more than the
  recv itself): a waiting connection publishes ``wait_deadline``, and one watchdog per
  server (``watch_deadlines``) wakes those past it with ``interrupt``, which makes the
  pending ``receive`` raise ``Interrupted``. The watchdog reads the clock every ``tick``
  and connections stamp their deadlines from that reading (``Clock.now``), so a timeout
  fires within one tick of its nominal time, either side.
- ``interrupt`` only wakes a task parked in ``wait_readable`` (trio's ``notify_closing``
  wakes waiters and nothing else); a task already woken by data is left alone, so a
  request that arrived at the deadline is still served.
- ``send_all`` writes without a checkpoint when the kernel takes everything at once (the
  usual case for a response); it waits for writability otherwise (``socket_calls``).
- ``close`` tells trio first (``notify_closing``) so no wait is left on a closed fd.
- ``accept_connections`` takes every pending connection per wake-up and ignores the
  errors that mean "that one client went away", as trio's own listener does.
"""

from __future__ import annotations

import errno
import logging
import math
import socket as stdsocket
from collections.abc import Awaitable, Callable, Collection

import trio

from engine.http1 import socket_calls

log = logging.getLogger("engine.http1.server")

READ_SIZE = 65_536
_ACCEPT_BURST = 256
# What trio's own listener ignores: errors about one client, not about the listener.
_IGNORED_ACCEPT_ERRNO_NAMES = (
    "EPERM ECONNABORTED EPROTO ENETDOWN ENOPROTOOPT EHOSTDOWN ENONET EHOSTUNREACH "
    "EOPNOTSUPP ENETUNREACH ETIMEDOUT ECONNRESET"
)
_IGNORED_ACCEPT_ERRNOS = {
    getattr(errno, name) for name in _IGNORED_ACCEPT_ERRNO_NAMES.split() if hasattr(errno, name)
}
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


class Interrupted(Exception):
    """``interrupt`` woke the waiting ``receive`` (a timeout or a drain)."""


class Clock:
    """trio's clock as of the watchdog's last tick: cheap to read on every request."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = trio.current_time()


class Connection:
    """One accepted TCP connection (non-blocking)."""

    __slots__ = ("_sock", "closed", "idle", "wait_deadline")

    def __init__(self, sock: stdsocket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self.closed = False
        self.wait_deadline = math.inf  # when a waiting receive times out; inf: not waiting
        self.idle = False  # waiting between requests (a drain closes it at once)

    def peer(self) -> tuple[str, int]:
        try:
            host, port = self._sock.getpeername()[:2]
            return str(host), int(port)
        except OSError:
            return "", 0

    async def receive(self, *, wait_first: bool = False) -> bytes:
        """Bytes from the peer, ``b""`` at end of stream (``socket_calls.receive``:
        ``wait_first`` when the caller has just answered everything the peer sent)."""
        try:
            return await socket_calls.receive(self._sock, READ_SIZE, wait_first=wait_first)
        except trio.ClosedResourceError:
            raise Interrupted from None

    async def send_all(self, data: bytes) -> None:
        await socket_calls.send_all(self._sock, data)

    def interrupt(self) -> None:
        """Make a ``receive`` parked in its wait raise ``Interrupted``; else do nothing."""
        if not self.closed:
            trio.lowlevel.notify_closing(self._sock)

    def send_eof(self) -> None:
        try:
            self._sock.shutdown(stdsocket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()


async def listening_socket(host: str, port: int, reuse_port: bool) -> stdsocket.socket:
    """A bound, listening, non-blocking socket (trio resolves and binds)."""
    family = stdsocket.AF_INET6 if ":" in host else stdsocket.AF_INET
    tsock = trio.socket.socket(family, stdsocket.SOCK_STREAM)
    tsock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR, 1)
    if reuse_port:
        tsock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_REUSEPORT, 1)
    try:
        await tsock.bind((host, port))
    except BaseException:
        tsock.close()
        raise
    sock = stdsocket.socket(family, stdsocket.SOCK_STREAM, fileno=tsock.detach())
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def accept_connections(
    sock: stdsocket.socket, handle: Callable[[Connection], Awaitable[None]], nursery: trio.Nursery
) -> None:
    """Accept forever (until cancelled), each connection handled in ``nursery``."""
    while True:
        await trio.lowlevel.wait_readable(sock)
        for _ in range(_ACCEPT_BURST):
            try:
                conn, _addr = sock.accept()
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in _IGNORED_ACCEPT_ERRNOS:
                    continue
                if exc.errno in _OUT_OF_RESOURCES:
                    log.warning("accept failed; backing off", extra={"errno": exc.errno})
                    await trio.sleep(0.1)
                    break
                raise
            try:
                conn.setsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY, 1)
            except OSError:
                pass
            nursery.start_soon(handle, Connection(conn))


async def watch_deadlines(connections: Collection[Connection], clock: Clock, tick: float) -> None:
    """Every ``tick``: refresh ``clock`` and interrupt connections waiting past their
    deadline. Runs until cancelled."""
    while True:
        await trio.sleep(tick)
        now = clock.now = trio.current_time()
        for conn in [c for c in connections if c.wait_deadline <= now]:
            conn.interrupt()

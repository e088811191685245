"""A plain (http) client connection's socket: stdlib calls, trio's waits only when needed.

Why not ``trio.SocketStream`` here: every send and receive goes through its conflict
detectors, an error-translating context manager and two checkpoints; the server dropped it
for that (``server_sockets``: a third of its CPU per request). The callback client makes
one exchange per notification (and the AWS session one per batch), so the client side
does the same (``python bench/callbacks.py``: A/B in the README, "Results", fifteenth
session). https keeps ``trio.SSLStream`` over a ``trio.SocketStream``.

Rules:
- ``send_all`` writes without a checkpoint when the kernel takes everything at once (a
  request, usually); otherwise it waits for writability and writes the rest.
- ``receive_some`` tries ``recv`` first and checkpoints when data was there, except right
  after a send: the answer is rarely there yet, and a failed ``recv`` costs a system call
  and an exception, so it waits for readability first.
- Errors are the socket's own ``OSError``; a wait woken by ``notify_closing`` (a closing
  or an expired ticket: ``pool.ClientConnection.interrupt``) raises
  ``trio.ClosedResourceError``, as trio's streams do. The pool handles both.
- The socket is the pool's to close (``ClientConnection.close``: ``notify_closing`` first,
  so no wait is left on a closed file descriptor).
"""

from __future__ import annotations

import socket as stdsocket

import trio

_WAIT_LIMIT = 1_000_000  # spurious wake-ups retried; bounded anyway


class PlainStream:
    """``send_all`` and ``receive_some`` (what ``pool`` uses of a stream) on a socket."""

    __slots__ = ("_just_sent", "sock")

    def __init__(self, sock: stdsocket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._just_sent = False

    @classmethod
    def from_trio(cls, stream: trio.SocketStream) -> PlainStream:
        """Take over a connected ``trio.SocketStream``'s socket (the stream is left closed)."""
        return cls(stdsocket.socket(fileno=stream.socket.detach()))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        sock = self.sock
        for _ in range(_WAIT_LIMIT):
            if not view:
                self._just_sent = True
                return
            try:
                sent = sock.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            view = view[sent:]
        raise OSError("socket never became writable")  # pragma: no cover

    async def receive_some(self, max_bytes: int) -> bytes:
        sock = self.sock
        if not self._just_sent:
            try:
                data = sock.recv(max_bytes)
            except BlockingIOError:
                pass
            else:
                await trio.lowlevel.checkpoint()
                return data
        self._just_sent = False
        for _ in range(_WAIT_LIMIT):
            await trio.lowlevel.wait_readable(sock)
            try:
                return sock.recv(max_bytes)
            except BlockingIOError:
                continue
        raise OSError("socket never became readable")  # pragma: no cover

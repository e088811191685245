"""A plain (http) client connection's socket: stdlib calls, trio's waits only when needed.

Why not ``trio.SocketStream`` here: every send and receive goes through its conflict
detectors, an error-translating context manager and two checkpoints; the server dropped it
for that (``server_sockets``: a third of its CPU per request). The callback client makes
one exchange per notification (and the AWS session one per batch), so the client side
does the same (``python bench/callbacks.py``: A/B in the README, "Results", fifteenth
session). https keeps ``trio.SSLStream`` over a ``trio.SocketStream``.

Rules:
- The calls are ``socket_calls``' (shared with the server): ``send_all`` without a
  checkpoint when the kernel takes everything at once (a request, usually);
  ``receive_some`` tries ``recv`` first and checkpoints when data was there, except right
  after a send, when it waits for readability first (the answer is rarely there yet).
- Errors are the socket's own ``OSError``; a wait woken by ``notify_closing`` (a closing
  or an expired ticket: ``pool.ClientConnection.interrupt``) raises
  ``trio.ClosedResourceError``, as trio's streams do. The pool handles both.
- The socket is the pool's to close (``ClientConnection.close``: ``notify_closing`` first,
  so no wait is left on a closed file descriptor).
"""

from __future__ import annotations

import socket as stdsocket

import trio

from engine.http1 import socket_calls


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
        await socket_calls.send_all(self.sock, data)
        self._just_sent = True

    async def receive_some(self, max_bytes: int) -> bytes:
        just_sent, self._just_sent = self._just_sent, False
        return await socket_calls.receive(self.sock, max_bytes, wait_first=just_sent)

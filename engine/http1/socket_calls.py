"""The non-blocking socket calls both shells make (``server_sockets``, ``client_sockets``):
the stdlib call first, trio's wait only when the call would block.

Rules:
- ``receive`` tries ``recv`` and checkpoints when data was there, so a peer that sends
  without pause cannot starve the other tasks and a cancellation still reaches the caller.
  ``wait_first`` skips that try when the caller knows nothing is likely there yet (it has
  just answered, or just asked): a failing ``recv`` costs a system call and an exception.
- ``send_all`` writes without a checkpoint when the kernel takes everything at once (a
  response or a request, usually); otherwise it waits for writability and goes on.
- A wait woken by ``trio.lowlevel.notify_closing`` raises ``trio.ClosedResourceError``;
  each shell says what that means (the server: ``Interrupted``; the client: a closing or
  an expired ticket). Errors of the calls themselves are the socket's ``OSError``.
- Spurious wake-ups are retried, a bounded number of times.
"""

from __future__ import annotations

import errno
import socket

import trio

_WAKE_UPS = 1_000_000


async def receive(sock: socket.socket, max_bytes: int, *, wait_first: bool = False) -> bytes:
    """Bytes from the peer, ``b""`` at the end of the stream."""
    if not wait_first:
        try:
            data = sock.recv(max_bytes)
        except BlockingIOError:
            pass
        else:
            await trio.lowlevel.checkpoint()
            return data
    for _ in range(_WAKE_UPS):
        await trio.lowlevel.wait_readable(sock)
        try:
            return sock.recv(max_bytes)
        except BlockingIOError:
            continue
    raise OSError(errno.EAGAIN, "socket never became readable")


async def send_all(sock: socket.socket, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    for _ in range(_WAKE_UPS):
        if not view:
            return
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        view = view[sent:]
    raise OSError(errno.EAGAIN, "socket never became writable")

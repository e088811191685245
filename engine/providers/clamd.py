"""A trio client of clamd (ClamAV's daemon): INSTREAM over a Unix or TCP socket.

No maintained trio library exists: ``clamd`` (2014) and ``pyclamd`` (2017) are blocking,
``aioclamd`` is asyncio. The protocol is small; its framing is pure and tested on its own
(``engine.domain.clamd``), this module only moves the bytes.

Rules:
- One connection per file (clamd closes it after each reply); at most ``concurrency``
  scans at once (a ``trio.CapacityLimiter``): clamd's ``MaxThreads`` is the real bound,
  and each scan in flight holds its file in memory anyway.
- Every scan has a deadline (``timeout``: connect, send, verdict): past it the scan is a
  ``ScanError`` (no verdict), as is a refused connection or an ``... ERROR`` reply. The
  caller holds the notification and tries again later; it never treats "no verdict" as
  clean.
- A file larger than ``max_bytes`` (clamd's ``StreamMaxLength``) is refused before
  sending (``TooLarge``): configure clamd's limit at least as large as the API's
  (10 MiB a file).
"""

from __future__ import annotations

from collections.abc import Iterator

import trio

from engine.domain.clamd import (
    PING,
    Address,
    ReplyReader,
    ScanError,
    Verdict,
    instream,
    parse_address,
)


class ClamdClient:
    def __init__(
        self, address: str, *, timeout: float = 30.0, concurrency: int = 4,
        max_bytes: int = 25 * 1024 * 1024,
    ) -> None:  # fmt: skip
        self.address: Address = parse_address(address)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._limit = trio.CapacityLimiter(concurrency)

    def __repr__(self) -> str:
        where = self.address.path or f"{self.address.host}:{self.address.port}"
        return f"ClamdClient({where})"

    async def _connect(self) -> trio.SocketStream:
        if self.address.path:
            return await trio.open_unix_socket(self.address.path)
        return await trio.open_tcp_stream(self.address.host, self.address.port)

    async def scan(self, data: bytes) -> Verdict:
        """clamd's verdict on ``data``; ``ScanError`` when there is none."""
        frames = instream(data, max_bytes=self.max_bytes)  # TooLarge before connecting
        async with self._limit:
            with trio.move_on_after(self.timeout):
                return await self._exchange(frames)
        raise ScanError(f"no verdict within {self.timeout:g} s")

    async def ping(self) -> bool:
        """Whether clamd answers PONG (within ``timeout``)."""
        with trio.move_on_after(self.timeout):
            try:
                stream = await self._connect()
                async with stream:
                    await stream.send_all(PING)
                    reply = b""
                    while b"\0" not in reply and len(reply) < 64:
                        data = await stream.receive_some(64)
                        if not data:
                            break
                        reply += data
                    return reply.rstrip(b"\0") == b"PONG"
            except OSError:
                return False
        return False

    async def _exchange(self, frames: Iterator[bytes | memoryview]) -> Verdict:
        reader = ReplyReader()
        try:
            stream = await self._connect()
        except OSError as exc:
            raise ScanError(f"cannot reach clamd: {exc}") from None
        async with stream:
            try:
                for frame in frames:
                    await stream.send_all(frame)
            except (trio.BrokenResourceError, OSError):
                # clamd closes early after refusing a stream (size limit): read its reason.
                pass
            for _ in range(1000):  # bounded: a reply is a few dozen bytes
                try:
                    data = await stream.receive_some(4096)
                except (trio.BrokenResourceError, OSError) as exc:
                    raise ScanError(f"connection to clamd lost: {exc}") from None
                verdict = reader.feed(data)
                if verdict is not None:
                    return verdict
        raise ScanError("reply too long")

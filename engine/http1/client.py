"""A lean keep-alive HTTP/1.1 client for the engine's highest-volume outbound requests.

Why not httpx2 here: measured on this project's 2-core machine, an httpx2 POST costs about
1 ms of CPU (building request and response models, URL merging, auth and redirect hooks,
pool bookkeeping), which caps delivery-status callbacks at a few hundred per second per
core; the contract's volume needs thousands. Callbacks need none of that machinery: a JSON
POST to a fixed URL and the status code back. So this client does exactly that, with the
same parser the server uses (httptools), and httpx2 stays the client for everything else.

Rules (this client's layer over ``pool.py``, which holds the connection and framing rules):
- Idle connections per origin are bounded (``max_idle_per_origin``); no keep-alive age.
- ``timeout`` bounds the whole request (connect, send, response): ``trio.TooSlowError``
  when it runs out. Not with a cancel scope per request (~11 us of CPU, ~2.5% of the
  engine's per notification: ``engine.watchdog``) but with a ticket of the client's own
  watchdog, whose task (``run``) the owner starts: the request's connection is interrupted
  at the deadline, within a tenth of ``timeout`` (at most 0.5 s) late. A client whose
  watchdog is not running refuses to send (``RuntimeError``); ``running`` opens one for a
  block (tests, one-off use).
- Every other failure to get an answer is ``HttpClientError``: refused or reset, TLS,
  closed mid-response, malformed. A close-delimited response is an answer, not a failure.
- Response bodies are read and discarded, at most ``MAX_RESPONSE_BYTES``.
- Redirects are not followed. ``url_check`` and ``address_check`` (the SSRF rules of
  ``engine.domain.callback_urls``, applied by the callback sender) refuse a URL or an
  address with ``HttpClientError`` before any byte is sent.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import trio

from engine.http1.pool import ConnectionPool, ExchangeError, PhaseTimeout
from engine.http1.response_reader import MalformedResponse
from engine.watchdog import Watchdog

MAX_RESPONSE_BYTES = 1 << 20


class HttpClientError(Exception):
    """No HTTP answer: connection refused or reset, TLS failure, malformed response."""


class Http11Client:
    def __init__(
        self,
        *,
        timeout: float = 5.0,
        max_idle_per_origin: int = 64,
        ssl_context: ssl.SSLContext | None = None,
        url_check: Callable[[str], str | None] | None = None,
        address_check: Callable[[str], str | None] | None = None,
    ) -> None:
        self.timeout = timeout
        self._watchdog = Watchdog(min(0.5, timeout / 10))
        self._url_check = url_check
        self._url_verdicts: dict[str, str | None] = {}  # url_check's, once per URL
        self._pool = ConnectionPool(
            ssl_context=ssl_context,
            max_idle_per_origin=max_idle_per_origin,
            address_check=address_check,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The watchdog that bounds every request; runs until cancelled."""
        await self._watchdog.run(task_status=task_status)

    @classmethod
    @asynccontextmanager
    async def running(cls, **settings: Any) -> AsyncIterator[Http11Client]:
        """A client with its watchdog running for the block, closed after it."""
        client = cls(**settings)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(client.run)
                yield client
                nursery.cancel_scope.cancel()
        finally:
            await client.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body``; return the status code. Raises ``trio.TooSlowError`` after
        ``timeout`` seconds and ``HttpClientError`` when there is no HTTP answer."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpClientError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        if self._url_check is not None:
            if url not in self._url_verdicts:
                if len(self._url_verdicts) >= 10_000:
                    self._url_verdicts.clear()
                self._url_verdicts[url] = self._url_check(url)
            problem = self._url_verdicts[url]
            if problem is not None:
                raise HttpClientError(problem)
        origin = self._pool.origin(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"Host: {origin.host_header}",
                 f"Content-Length: {len(body)}"]  # fmt: skip
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        with self._watchdog.ticket(self.timeout) as ticket:
            try:
                response = await self._pool.request(
                    origin, (head, body), MAX_RESPONSE_BYTES, ticket=ticket
                )
            except PhaseTimeout:  # the ticket's deadline, or the connect's share of it
                raise trio.TooSlowError from None
            except (ExchangeError, MalformedResponse) as exc:
                raise HttpClientError(str(exc)) from None
        return response.status

    def forget(self, origin: str) -> None:
        """Close and drop the idle connections of ``origin`` (``scheme://host[:port]``)."""
        self._pool.forget(origin)

    async def aclose(self) -> None:
        self._pool.close()
        await trio.lowlevel.checkpoint()

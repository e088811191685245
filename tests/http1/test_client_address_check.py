"""The callback client's SSRF checks happen before any byte leaves: a refused URL or address
never reaches the server (it sees no connection at all)."""

from __future__ import annotations

from functools import partial

import pytest
import trio

from engine.domain.callback_urls import address_problem, url_problem
from engine.http1.client import Http11Client, HttpClientError


async def _counting_server(nursery: trio.Nursery) -> tuple[list[int], int]:
    seen: list[int] = []

    async def handle(stream: trio.SocketStream) -> None:
        seen.append(1)
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    [listener] = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    return seen, listener.socket.getsockname()[1]


async def test_a_private_address_is_refused_at_connect_time() -> None:
    strict_check = partial(address_problem, allow_private=False)
    async with (
        Http11Client.running(timeout=5, address_check=strict_check) as strict,
        Http11Client.running(timeout=5) as open_,
        trio.open_nursery() as nursery,
    ):
        seen, port = await _counting_server(nursery)
        for url in (f"http://127.0.0.1:{port}/cb", f"http://localhost:{port}/cb"):
            with pytest.raises(HttpClientError, match="must not point to a loopback"):
                await strict.post(url, b"{}", {})
        assert seen == []
        assert await open_.post(f"http://127.0.0.1:{port}/cb", b"{}", {}) == 200
        assert seen == [1]  # the same server answers a client without the check
        nursery.cancel_scope.cancel()


async def test_an_http_url_is_refused_before_connecting() -> None:
    https_only = partial(url_problem, allow_http=False)
    async with (
        Http11Client.running(timeout=5, url_check=https_only) as client,
        trio.open_nursery() as nursery,
    ):
        seen, port = await _counting_server(nursery)
        with pytest.raises(HttpClientError, match="not a valid https url"):
            await client.post(f"http://127.0.0.1:{port}/cb", b"{}", {})
        assert seen == []
        nursery.cancel_scope.cancel()

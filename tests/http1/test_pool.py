"""One request's round trip (engine/http1/pool.py) over in-memory streams: the stale rule's
signal, close-delimited bodies, lost connections and per-phase timeouts, with no sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from engine.http1.pool import (
    NO_TIMEOUTS,
    ConnectionLost,
    PhaseTimeout,
    Timeouts,
    _Stale,
    round_trip,
)
from engine.http1.response_reader import ResponseReader

REQUEST = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n", b"{}")
Server = Callable[[trio.abc.Stream], Awaitable[None]]
Pair = tuple[trio.abc.Stream, trio.abc.Stream]


def memory_pair() -> Pair:
    return trio.testing.memory_stream_pair()


async def exchange(
    server: Server, timeouts: Timeouts = NO_TIMEOUTS, pair: Callable[[], Pair] = memory_pair
) -> ResponseReader:
    """Run ``server`` on one end of an in-memory stream pair and the round trip on the other."""
    ours, theirs = pair()
    reader = ResponseReader(1000)
    failure: Exception | None = None
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server, theirs)
            try:
                await round_trip(ours, REQUEST, reader, timeouts)
            except Exception as exc:  # raised below, outside the nursery's exception group
                failure = exc
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return reader


async def request_head(stream: trio.abc.Stream) -> bytes:
    data = b""
    while not data.endswith(b"{}"):
        data += await stream.receive_some(1000)
    return data


def answering(*parts: bytes, close: bool = False) -> Server:
    async def server(stream: trio.abc.Stream) -> None:
        assert await request_head(stream) == b"".join(REQUEST)
        for part in parts:
            await stream.send_all(part)
            await trio.lowlevel.checkpoint()
        if close:
            await stream.aclose()
        else:
            await trio.sleep_forever()

    return server


async def test_a_content_length_response_needs_no_close() -> None:
    reader = await exchange(answering(b"HTTP/1.1 200 OK\r\nContent-", b"Length: 2\r\n\r\nok"))
    assert (reader.status, bytes(reader.body), reader.keep_alive) == (200, b"ok", True)


async def test_a_close_delimited_body_is_a_complete_response() -> None:
    reader = await exchange(answering(b"HTTP/1.0 200 OK\r\n\r\nall", b" of it", close=True))
    assert (reader.status, bytes(reader.body), reader.keep_alive) == (200, b"all of it", False)


async def test_a_close_before_any_response_byte_is_stale() -> None:
    async def closing(stream: trio.abc.Stream) -> None:
        await request_head(stream)
        await stream.aclose()

    with pytest.raises(_Stale):
        await exchange(closing)


async def test_a_close_mid_response_is_a_lost_connection() -> None:
    with pytest.raises(ConnectionLost, match="mid-response"):
        await exchange(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", close=True))


async def test_a_silent_server_is_a_read_timeout() -> None:
    with pytest.raises(PhaseTimeout, match="read"):
        await exchange(answering(), Timeouts(read=0.05))


async def test_a_server_that_does_not_read_is_a_write_timeout() -> None:
    async def deaf(stream: trio.abc.Stream) -> None:
        await trio.sleep_forever()

    # A lockstep stream's send_all waits until the other end receives.
    with pytest.raises(PhaseTimeout, match="write"):
        await exchange(deaf, Timeouts(write=0.05), trio.testing.lockstep_stream_pair)

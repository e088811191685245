"""The plain client stream (engine.http1.client_sockets) on a real socket pair."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from engine.http1.client_sockets import PlainStream


def _pair() -> tuple[PlainStream, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    return PlainStream(ours), theirs


async def _read_all(sock: socket.socket, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        await trio.lowlevel.wait_readable(sock)
        got += sock.recv(1 << 20)
    return bytes(got)


async def test_a_large_send_waits_for_room_and_arrives_whole_in_order() -> None:
    stream, peer = _pair()
    payload = bytes(range(256)) * 40_000  # ~10 MB: far more than the socket buffers
    received: list[bytes] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_collect, peer, len(payload), received)
            await stream.send_all(payload)
    assert received == [payload]
    stream.sock.close()
    peer.close()


async def _collect(sock: socket.socket, size: int, into: list[bytes]) -> None:
    into.append(await _read_all(sock, size))


async def test_data_already_there_is_read_at_once_and_still_checkpoints() -> None:
    stream, peer = _pair()
    peer.send(b"hello")
    await trio.sleep(0.01)
    with trio.testing.assert_checkpoints():
        assert await stream.receive_some(100) == b"hello"
    stream.sock.close()
    peer.close()


async def test_after_a_send_the_answer_is_waited_for() -> None:
    stream, peer = _pair()
    with trio.fail_after(5):
        await stream.send_all(b"GET")
        async with trio.open_nursery() as nursery:

            async def answer() -> None:
                assert await _read_all(peer, 3) == b"GET"
                await trio.sleep(0.05)
                peer.send(b"200")

            nursery.start_soon(answer)
            assert await stream.receive_some(100) == b"200"
    stream.sock.close()
    peer.close()


async def test_a_waiting_receive_woken_by_notify_closing_fails_closed() -> None:
    stream, peer = _pair()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def interrupt() -> None:
                await trio.sleep(0.05)
                trio.lowlevel.notify_closing(stream.sock)

            nursery.start_soon(interrupt)
            with pytest.raises(trio.ClosedResourceError):
                await stream.receive_some(100)
    stream.sock.close()
    peer.close()


async def test_the_peers_close_is_an_empty_read() -> None:
    stream, peer = _pair()
    peer.close()
    with trio.fail_after(5):
        assert await stream.receive_some(100) == b""
    stream.sock.close()

"""The ingress's socket layer (engine/http1/server_sockets.py) on real socket pairs: what the
server's timeouts and drain rely on. Real clock, absolute deadlines."""

from __future__ import annotations

import math
import socket

import pytest
import trio
import trio.testing

from engine.http1.server_sockets import Clock, Connection, Interrupted, watch_deadlines


def _pair() -> tuple[Connection, socket.socket]:
    ours, peer = socket.socketpair()
    return Connection(ours), peer


async def test_interrupt_wakes_a_waiting_receive_and_the_socket_still_works() -> None:
    conn, peer = _pair()
    with peer, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            raised = trio.Event()

            async def wait() -> None:
                with pytest.raises(Interrupted):
                    await conn.receive(wait_first=True)
                raised.set()

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            conn.interrupt()
            await raised.wait()
        # Still usable: the server answers 408 on it after a timeout.
        await conn.send_all(b"408 please")
        assert peer.recv(100) == b"408 please"
        peer.sendall(b"more")
        assert await conn.receive() == b"more"
        conn.close()


async def test_interrupt_without_a_waiter_changes_nothing() -> None:
    conn, peer = _pair()
    with peer, trio.fail_after(5):
        conn.interrupt()
        peer.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert await conn.receive() == b"GET / HTTP/1.1\r\n\r\n"
        peer.close()
        assert await conn.receive() == b""  # end of stream
        conn.close()
        conn.interrupt()  # after close: nothing to wake, no error


async def test_the_watchdog_interrupts_only_connections_past_their_deadline() -> None:
    late, late_peer = _pair()
    waiting, waiting_peer = _pair()
    clock = Clock()
    with late_peer, waiting_peer, trio.fail_after(5):
        late.wait_deadline = trio.current_time() + 0.1
        waiting.wait_deadline = math.inf
        outcome: dict[str, str] = {}
        late_done = trio.Event()

        async def receive(name: str, conn: Connection) -> None:
            try:
                outcome[name] = (await conn.receive(wait_first=True)).decode()
            except Interrupted:
                outcome[name] = "interrupted"
            if conn is late:
                late_done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_deadlines, {late, waiting}, clock, 0.02)
            async with trio.open_nursery() as receivers:
                receivers.start_soon(receive, "late", late)
                receivers.start_soon(receive, "waiting", waiting)
                await late_done.wait()
                assert "waiting" not in outcome  # no deadline: still waiting
                waiting_peer.sendall(b"hello")
            nursery.cancel_scope.cancel()
        assert outcome == {"late": "interrupted", "waiting": "hello"}
        assert clock.now >= late.wait_deadline  # the watchdog keeps the shared clock fresh
        late.close()
        waiting.close()

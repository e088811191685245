"""The database driver's own thread: an asyncio event loop beside the engine's trio loop.

asyncpg is asyncio-only. Run through trio-asyncio (asyncio callbacks scheduled as trio
work), every asyncio callback of a query waited for a pass of the busy trio scheduler: at
400 requests/s the API's group commit took 13 ms in the engine for a statement PostgreSQL
answers in 0.4 ms, and that wait was most of the API's latency. On its own loop in its own
thread a query runs at asyncpg's speed; only the result crosses back to trio, once.

Rules:
- One thread and loop per ``open_asyncio_thread``; asyncpg objects (pools, connections)
  are created, used and closed only on that loop, through ``call``.
- ``call(fn, *args)`` runs the coroutine function ``fn(*args)`` there and waits for it in
  trio; its result or exception comes back unchanged.
- Cancelling the trio caller cancels the asyncio task and waits (shielded, at most
  ``CANCEL_WAIT_S``) until it has unwound, so a connection is back in its pool, or
  closed, before the caller goes on.
- The driver's background errors (a future nobody awaits, e.g. a connection attempt
  abandoned at shutdown) are logged, never raised into the engine.
- Stopping waits for the loop's remaining tasks (bounded) and joins the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio

log = logging.getLogger("engine.store")

T = TypeVar("T")
CANCEL_WAIT_S = 10.0
STOP_WAIT_S = 10.0


def _log_driver_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    log.error(
        "database driver: %s", context.get("message", "error"), exc_info=context.get("exception")
    )


class AsyncioThread:
    """Runs coroutine functions on a private asyncio loop; see the module rules."""

    def __init__(self, loop: asyncio.AbstractEventLoop, token: trio.lowlevel.TrioToken) -> None:
        self.loop = loop
        self._token = token

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        done = trio.Event()
        future = asyncio.run_coroutine_threadsafe(_run(fn, args), self.loop)
        future.add_done_callback(lambda _: self._wake(done))
        try:
            await done.wait()
        except trio.Cancelled:
            future.cancel()
            with trio.CancelScope(shield=True), trio.move_on_after(CANCEL_WAIT_S):
                await done.wait()
            raise
        return future.result()

    def _wake(self, done: trio.Event) -> None:
        # On the asyncio thread. The trio run may be over (a call abandoned at exit).
        try:
            self._token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass


async def _run(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    return await fn(*args)


@asynccontextmanager
async def open_asyncio_thread(name: str = "notify-db") -> AsyncIterator[AsyncioThread]:
    # The class itself, not asyncio.new_event_loop(): trio-asyncio, imported by the tests
    # and benchmarks, hooks the policy and refuses to make a loop from inside trio.
    loop = asyncio.SelectorEventLoop()
    loop.set_exception_handler(_log_driver_error)
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        yield AsyncioThread(loop, trio.lowlevel.current_trio_token())
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(STOP_WAIT_S):
            stopped = asyncio.run_coroutine_threadsafe(_drain(), loop)
            await trio.to_thread.run_sync(_wait, stopped, abandon_on_cancel=True)
        loop.call_soon_threadsafe(loop.stop)
        await trio.to_thread.run_sync(thread.join, STOP_WAIT_S, abandon_on_cancel=True)
        if not thread.is_alive():
            loop.close()


async def _drain() -> None:
    """Let the loop's remaining tasks (a connection closing) finish, then stop async gens."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current]
    if pending:
        await asyncio.wait(pending, timeout=STOP_WAIT_S)
    await asyncio.get_running_loop().shutdown_asyncgens()


def _wait(future: concurrent.futures.Future[None]) -> None:
    try:
        future.result(timeout=STOP_WAIT_S)
    except Exception:  # stopping goes on regardless; say what was left
        log.exception("database driver tasks did not finish before stopping")

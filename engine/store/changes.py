"""Service changes: every process hears of a committed change to a service (a key revoked
or created, settings, suspension, templates, senders, callbacks, team) within a second,
through PostgreSQL ``LISTEN/NOTIFY``, and drops what it cached of that service.

Rules:
- The notices are sent by triggers (migration 0010) in the transaction that writes the
  change, so a notice is sent if and only if the change committed, and only after its
  commit (a process that reloads on the notice sees the change). Payload: the service id,
  or ``*`` (a TRUNCATE: every service).
- Each process holds one listening connection of its own, outside the pools (a pooled
  connection is shared and released; its LISTEN would end or leak into other work). It
  is opened, used and closed on the store's asyncio thread, through ``Availability.call``
  like every other statement (an outage is logged once, by the store).
- Notices arrive on the asyncio thread and cross to trio once each (``run_sync_soon``);
  the callbacks, ``on_change(service_id)`` and ``on_reset()``, run in trio and must not
  block (the registry drops a dict entry).
- After every (re)connection, once ``LISTEN`` is in place, ``on_reset`` runs: notices sent
  while nobody listened are lost for good, so anything cached may be stale. Not when the
  connection is lost: until the database is back, cached bundles keep the API answering
  (the registry's TTL still bounds their age).
- A lost connection (asyncpg's termination callback, or a liveness ``SELECT 1`` every
  ``CHECK_EVERY_S`` unanswered within ``CHECK_TIMEOUT_S``: a half-open TCP connection
  never terminates by itself) is reopened with backoff (``MIN_BACKOFF_S`` doubling to
  ``MAX_BACKOFF_S``) until the database answers. ``notify_service_changes_listening``
  says whether it is listening now.
- Hot-path cost: none. Nothing here runs per request; per process, one connection and one
  ``SELECT 1`` each ``CHECK_EVERY_S``, and per admin change one notice to every process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import trio

from engine.metrics import SERVICE_CHANGE_NOTICES, SERVICE_CHANGES_LISTENING
from engine.store.availability import Availability
from engine.store.errors import DatabaseUnavailable

log = logging.getLogger("engine.store")

CHANNEL = "service_changes"
EVERY_SERVICE = "*"
CHECK_EVERY_S = 5.0
CHECK_TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 5.0
MIN_BACKOFF_S = 0.1
# Short: once the database is back, changes are heard (and all reset) within about this.
# An attempt against a stopped server is one refused connect.
MAX_BACKOFF_S = 0.5

OnChange = Callable[[uuid.UUID], None]
OnReset = Callable[[], None]


class ChangeListener:
    """The process's listening connection; ``run`` keeps it open (see the module rules)."""

    def __init__(
        self,
        db: Availability,
        dsn: str,
        server_settings: dict[str, str],
        *,
        check_every: float = CHECK_EVERY_S,
    ) -> None:
        self._db = db
        self._dsn = dsn
        self._server_settings = server_settings
        self._check_every = check_every
        self.connections = 0  # successful LISTENs so far (1 + reconnections)

    async def run(
        self,
        on_change: OnChange,
        on_reset: OnReset,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled. Reports started after the first attempt to connect,
        whether it succeeded or not (it is retried in the background)."""
        token = trio.lowlevel.current_trio_token()

        def deliver(payload: str) -> None:  # in trio
            SERVICE_CHANGE_NOTICES.inc()
            if payload == EVERY_SERVICE:
                on_reset()
                return
            try:
                service_id = uuid.UUID(payload)
            except ValueError:
                log.warning("service change notice with a malformed payload")
                return
            on_change(service_id)

        backoff = MIN_BACKOFF_S
        started = False
        complained = False
        while True:
            lost = trio.Event()

            def on_notice(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                _soon(token, deliver, payload)  # on the asyncio thread

            def on_lost(_conn: Any, lost: trio.Event = lost) -> None:
                _soon(token, lost.set)  # on the asyncio thread; this connection's event

            conn = None
            try:
                conn = await self._db.call(self._open, on_notice, on_lost)
            except DatabaseUnavailable:
                pass  # logged once by the store
            except Exception:
                if not complained:  # a refusal of its own (auth, ...): once per streak
                    log.exception("cannot listen for service changes")
                    complained = True
            if not started:
                task_status.started()
                started = True
            if conn is None:
                await trio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = MIN_BACKOFF_S
            complained = False
            self.connections += 1
            SERVICE_CHANGES_LISTENING.set(1)
            try:
                on_reset()  # whatever was sent while nobody listened is lost
                await self._watch(conn, lost)
            finally:
                SERVICE_CHANGES_LISTENING.set(0)
                with trio.CancelScope(shield=True), trio.move_on_after(CHECK_TIMEOUT_S):
                    await self._db.thread.call(_terminate, conn)

    async def _watch(self, conn: Any, lost: trio.Event) -> None:
        """Return when the connection is lost or stops answering."""
        while not lost.is_set():
            with trio.move_on_after(self._check_every):
                await lost.wait()
            if lost.is_set():
                return
            answered = False
            with trio.move_on_after(CHECK_TIMEOUT_S):
                try:
                    answered = bool(await self._db.call(_ping, conn))
                except Exception:  # any failure: reconnect (an outage is logged once)
                    return
            if not answered:
                return

    async def _open(self, on_notice: Any, on_lost: Any) -> Any:
        import asyncpg

        conn = await asyncpg.connect(
            self._dsn, timeout=CONNECT_TIMEOUT_S, server_settings=self._server_settings
        )
        try:
            conn.add_termination_listener(on_lost)
            await conn.add_listener(CHANNEL, on_notice)
        except BaseException:
            conn.terminate()
            raise
        return conn


def _soon(token: trio.lowlevel.TrioToken, fn: Callable[..., None], *args: Any) -> None:
    try:
        token.run_sync_soon(fn, *args)
    except trio.RunFinishedError:
        pass  # the engine has stopped; nobody is left to tell


async def _ping(conn: Any) -> Any:
    return await conn.fetchval("SELECT 1")


async def _terminate(conn: Any) -> None:
    conn.terminate()

"""Callbacks: one CallbackActor (``callback_actor.py``) per service endpoint (and per
per-send origin, ``callback_origins.py``), fed by a CallbackManager.

Durability (a committed status never loses its callback, even to SIGKILL):
- Migration 0002's triggers write the owed callback into ``callback_queue`` in the same
  transaction as the status change (or the complaint row, ``engine.store.complaints``).
  The table *is* the queue; memory holds only what is being delivered.
- The manager claims due rows (``owner`` = this process's current registration,
  ``FOR UPDATE SKIP LOCKED``) in ``seq`` order, woken by ``on_changes`` or every ``poll``
  seconds, and routes them to the actor of (service, callback type, origin), created
  lazily (origin None: the service's endpoint; a per-send ``callback_url``'s origin:
  its own actor and breaker, reaped when idle, ``callback_origins.py``). Rows
  of a registration declared dead (``engine.actors.recovery``) are claimed again. What
  becomes of a row once its actor is done (deleted or put back, in batches; at-least-once)
  is ``callback_settle.py``'s: the manager passes its actors' reports on to its Settler.
- Fencing (``engine.domain.ownership``): a claimed row is delivered only by its current
  owner. Before each POST the actor asks ``deliverable``: it waits while the lease is being
  renewed and says no once the row's claim (``Owed.owner``) is not the current
  registration (the row is someone else's, or will be claimed again): the row is dropped
  from memory. Every bookkeeping write (delete, put back, unclaim) is conditional on the
  owner. So a duplicate callback can only be one already on the wire when the lease ran
  out, or delivered but not yet deleted.
- Bounded memory: each actor's queue holds at most ``queue_size`` rows. A full actor is
  left out of the next claims and rows that do not fit are released at once, so the
  overflow simply stays in the database until the actor has room.
Ordering per notification: a row is claimed only when every earlier row of the same
notification (and type) is already ours, and one notification always goes to the same
worker task of its actor, which sends in ``seq`` order. A row put back for a retry blocks
the notification's later rows (they are put back too) until it is sent.
Isolation: each actor has ``concurrency`` worker tasks, its own bound on requests in
flight, so a slow endpoint (5 s timeout) only slows its own service.
Retries: connection errors, timeouts, 5xx and 429 are retried ``max_retries`` times,
``retry_seconds`` apart (contract: 5 x 300 s); another 4xx is given up at once.
Breaker: 25 failed attempts within 300 s suspend the endpoint: ``suspended_at`` and
``suspended_reason`` are stored, the gauge and a log event tell operators, and the owed
rows wait in the table (claims skip suspended endpoints) until an admin resumes it or a
periodic ``{"health_check": "true"}`` probe succeeds (half-open).
State a team can see: each endpoint's last success and failure (``observed``, written
every ``outcomes_every`` seconds by the Settler, ``callback_settle.py``).
Status fan-out: every committed status change goes through ``on_changes`` (metrics, then a
wake when a callback is owed); complaint receipts through ``on_complaints``.
Bearer tokens and signing secrets are never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import trio

from engine.actors import callback_origins
from engine.actors.callback_actor import CallbackActor, Endpoint, HttpSender, Key, Sender
from engine.actors.callback_settle import Settler
from engine.actors.ownership import Ownership
from engine.domain import callbacks as cb
from engine.domain import team_mail
from engine.domain.team_mail import Notice
from engine.metrics import (
    CALLBACK_QUEUE,
    CALLBACKS_SUSPENDED,
    OWNERSHIP_DROPPED,
)
from engine.observability import observe_changes
from engine.providers.base import Receipt
from engine.services import Callback, Registry
from engine.store.errors import BACKOFF_S, DatabaseUnavailable
from engine.store.notifications import StatusChange
from engine.store.store import Store

log = logging.getLogger("engine.callbacks")


class CallbackManager:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        ownership: Ownership,
        *,
        sender: Sender | None = None,
        timeout: float = 5.0,
        max_retries: int = 5,
        retry_seconds: float = 300.0,
        concurrency: int = 8,
        queue_size: int = 1000,
        poll: float = 1.0,
        probe_every: float = 60.0,
        claim_batch: int = 1000,
        allow_http: bool = False,
        allow_private: bool = False,
        outcomes_every: float = 5.0,
        on_notice: Callable[[Notice], None] | None = None,
        reap_every: float = 60.0,
        idle_after: float = cb.BREAKER_WINDOW,
    ) -> None:
        self.store = store
        self.registry = registry
        self.ownership = ownership
        self._http = (
            HttpSender(timeout, allow_http=allow_http, allow_private=allow_private)
            if sender is None
            else None
        )
        self.sender: Sender = sender or self._http  # type: ignore[assignment]
        self.max_retries = max_retries
        self.retry_seconds = retry_seconds
        self._concurrency = concurrency
        self._queue_size = queue_size
        self._poll = poll
        self._probe_every = probe_every
        self._claim_batch = claim_batch
        self._last_limit = claim_batch  # the last claim's row limit
        self.actors: dict[Key, CallbackActor] = {}
        self.wants_room: set[Key] = set()  # actors left out of a claim for being full
        self._all_blocked_claim_at = -float("inf")  # last claim with every actor full/suspended
        self._nursery: trio.Nursery | None = None
        self._wake = trio.Event()
        # Deletes, put-backs and the endpoints' last outcomes (callback_settle.py).
        self.settler = Settler(store, self.wake, outcomes_every)
        self._on_notice = on_notice  # the team's mail (engine.actors.team_mail)
        # Per-send origins' actors are reaped after ``idle_after`` idle seconds (the
        # breaker's window by default, so no failure within it is forgotten).
        self.reap_every = reap_every
        self.idle_after = idle_after

    # -- lifecycle -------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # After a supervisor restart the old actors' tasks are gone: their rows are still
        # ours in the table and are released below, so start with no actors.
        self.actors.clear()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._http is not None:
                    await nursery.start(self._http.run)  # bounds every POST's time
                nursery.start_soon(self.settler.writer)
                nursery.start_soon(self._claimer)
                nursery.start_soon(self._prober)
                nursery.start_soon(self.settler.outcome_writer)
                nursery.start_soon(callback_origins.reaper, self)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await self.settler.final_flush(self.worker_id)
                if self._http is not None:
                    await self._http.aclose()

    @property
    def worker_id(self) -> uuid.UUID:
        """The current registration's id (what a claim records)."""
        return self.ownership.owner

    def wake(self) -> None:
        self._wake.set()

    async def deliverable(self, owed: cb.Owed) -> bool:
        """May this process POST ``owed`` now? Waits while the lease is being renewed;
        False (and the row is forgotten) once its claim is not the current registration."""
        if await self.ownership.acting(owed.owner):
            return True
        OWNERSHIP_DROPPED.labels("callback").inc()
        return False

    def actor(self, key: Key) -> CallbackActor:
        actor = self.actors.get(key)
        if actor is None:
            assert self._nursery is not None, "CallbackManager.run has not started"
            actor = CallbackActor(self, key, self._concurrency, self._queue_size)
            self.actors[key] = actor
            self._nursery.start_soon(actor.run)
        return actor

    def forget(self, origin: str) -> None:
        """A reaped origin's idle connections are closed (a test's sender keeps none)."""
        if self._http is not None:
            self._http.forget(origin)

    async def config(self, key: Key | Endpoint) -> Callback | None:
        bundle = await self.registry.get(key[0])
        return None if bundle is None else bundle.callbacks.get(key[1])

    # -- claiming --------------------------------------------------------------------
    async def _claimer(self) -> None:
        while True:
            with trio.move_on_after(self._poll):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                claimed = await self.claim()
            except DatabaseUnavailable:  # logged once by the store; try again later
                await trio.sleep(BACKOFF_S)
                continue
            except Exception:
                log.exception("callback claim failed")
                continue
            if claimed and claimed >= self._last_limit:
                self._wake.set()  # more may be waiting: claim again at once
            # Wakes come with every batch of status changes: one claim per 10 ms at most.
            await trio.sleep(0.01)

    async def claim(self) -> int:
        """Claim due rows and hand them to their actors. Returns how many were claimed.

        A claim takes no more rows than its actors have room for: rows that did not fit
        went back with an UPDATE, and at 1,000 callbacks/s against a busy endpoint that
        churn (claim 1,000, release most) took a quarter of PostgreSQL's time and left
        dead row versions for every later claim to step over. An actor with a lane more
        than half full is left out until it has drained (it wakes the claimer then)."""
        room = {k: a.room() for k, a in self.actors.items()}
        full_keys = {k for k, a in self.actors.items() if not a.ready_for_more()}
        self.wants_room |= full_keys
        full = list({k[0] for k in full_keys})
        now = trio.current_time()
        if self.actors and all(k[0] in full or a.suspended for k, a in self.actors.items()):
            # Every actor is full or suspended, so a claim can only find a service not
            # seen yet (or a resume made by another process), and to get there PostgreSQL
            # steps over the whole backlog of the others. Run on every wake (up to 100 a
            # second), that scan grew with the backlog. Look once per poll instead: a
            # draining actor and a resume here wake the claimer themselves.
            if now - self._all_blocked_claim_at < self._poll:
                return 0
            self._all_blocked_claim_at = now
        # A new actor (a service not seen yet) starts empty: half its queue is its room.
        limit = min([self._claim_batch, self._queue_size // 2 or 1]
                    + [r for k, r in room.items() if k[0] not in full])  # fmt: skip
        self._last_limit = limit
        owner = self.worker_id
        rows = await self.store.callbacks.claim(owner, limit=limit, full=full)
        owed = sorted(rows, key=lambda o: o.seq)
        overflow = []
        for o in owed:
            actor = self.actor((o.service_id, o.callback_type, o.callback_origin))
            since = actor.suspended_since
            if actor.suspended and since is not None and since < now:
                # The claim skips suspended endpoints, so this one was resumed elsewhere
                # (another process's admin call or probe): the database decides.
                self.reset(actor.key)
            if not actor.offer(o):
                overflow.append(o.seq)
        if overflow:
            # Synchronously, so no later row of these notifications is claimed meanwhile.
            await self.store.callbacks.unclaim(overflow, owner)
        CALLBACK_QUEUE.set(sum(a.depth() for a in self.actors.values()))
        return len(rows)

    # -- what the actors report (engine.actors.callback_settle) ---------------------------
    async def done(self, owed: cb.Owed) -> None:
        await self.settler.done(owed)

    async def release(self, owed: cb.Owed, attempts: int, delay: float) -> None:
        await self.settler.release(owed, attempts, delay)

    async def release_now(self, owed: cb.Owed, attempts: int, delay: float) -> None:
        await self.settler.release_now(owed, attempts, delay)

    def observed(self, key: Key, failure: str | None) -> None:
        self.settler.observed(key, failure)

    # -- suspension, health checks ---------------------------------------------------
    async def suspend(self, actor: CallbackActor, reason: str, url: str) -> None:
        if actor.suspended:
            return
        actor.suspended = True
        actor.suspended_since = None
        service_id, kind, origin = actor.key
        if origin is None:
            changed = await self.store.callbacks.suspend(service_id, kind, reason)
        else:
            changed = await self.store.callbacks.suspend_origin(service_id, origin, url, reason)
        actor.suspended_since = trio.current_time()
        if changed:
            CALLBACKS_SUSPENDED.inc()
            await self.tell_team(actor.key, resumed=False, reason=reason)
        log.warning(
            "callbacks suspended",
            extra={"service_id": str(service_id), "callback_type": kind, "origin": origin,
                   "reason": reason},
        )  # fmt: skip

    async def resume(self, service_id: uuid.UUID, kinds: Sequence[str]) -> list[str]:
        """Lift a suspension (admin or probe). Returns the callback types resumed."""
        resumed = await self.store.callbacks.resume(service_id, kinds)
        for kind in kinds:
            self.reset((service_id, kind, None))
        for kind in resumed:
            await self.tell_team((service_id, kind, None), resumed=True, reason="")
        if resumed:
            CALLBACKS_SUSPENDED.dec(len(resumed))
            log.info(
                "callbacks resumed",
                extra={"service_id": str(service_id), "callback_types": resumed},
            )
        self.wake()
        return resumed

    async def resume_origins(self, service_id: uuid.UUID, origins: Sequence[str]) -> list[str]:
        """Lift per-send origins' suspensions (``callback_origins.resume``)."""
        return await callback_origins.resume(self, service_id, origins)

    async def tell_team(self, key: Key, *, resumed: bool, reason: str) -> None:
        """The team's mail about a suspension or resumption this process committed (a
        per-send origin's names the origin as its URL)."""
        if self._on_notice is None:
            return
        bundle = await self.registry.get(key[0])
        config = None if bundle is None else bundle.callbacks.get(key[1])
        if bundle is None or config is None:
            return
        self._on_notice(team_mail.callback_notice(
            key[0], bundle.service.name, resumed=resumed, callback_type=key[1],
            url=config.url if key[2] is None else key[2], reason=reason,
            at=dt.datetime.now(dt.UTC),
        ))  # fmt: skip

    async def check_after_change(self, key: Endpoint) -> dict[str, Any] | None:
        """A callback was set or changed: clean breaker, then ``{"health_check": "true"}``."""
        self.reset((key[0], key[1], None))
        self.wake()
        return await self.health_check(key)

    # -- the status fan-out ------------------------------------------------------------
    async def on_changes(self, changes: Sequence[StatusChange]) -> None:
        """Every committed status change passes here (providers, receipts, recovery,
        cancels): metrics observe it; callbacks are woken if one is owed."""
        observe_changes(changes)
        # The owed callbacks are already in callback_queue (same transaction): just wake.
        if any(c.status in cb.CALLBACK_STATUSES for c in changes):
            self.wake()

    async def on_complaints(self, receipts: Sequence[Receipt]) -> None:
        """Complaint receipts: recorded, then their callbacks (queued with them) woken."""
        # ``rows``: the complaints recorded for the first time (complaint callbacks use them).
        rows = await self.store.complaints.record(receipts)
        log.info("complaints received", extra={"count": len(receipts), "new": len(rows)})
        if rows:
            self.wake()  # their callbacks were queued with them (migration 0002)

    def reset(self, key: Key) -> None:
        """The endpoint's config changed or it was resumed: start with a clean breaker."""
        actor = self.actors.get(key)
        if actor is not None:
            actor.suspended = False
            actor.suspended_since = None
            actor.breaker.reset()

    async def health_check(self, key: Endpoint, url: str | None = None) -> dict[str, Any] | None:
        """POST ``{"health_check": "true"}``; the endpoint's status and response time.
        ``url``: a per-send URL instead of the endpoint's (its headers all the same)."""
        config = await self.config(key)
        if config is None:
            return None
        headers = cb.request_headers(
            config.bearer_token, config.signing_secret, cb.HEALTH_CHECK_BODY, time.time()
        )
        started = trio.current_time()
        answer = await self.sender.post(url or config.url, cb.HEALTH_CHECK_BODY, headers)
        result: dict[str, Any] = {
            "status_code": answer.status,
            "response_time": round(trio.current_time() - started, 4),
        }
        if answer.error:
            result["error"] = answer.error
        return result

    async def _prober(self) -> None:
        while True:
            suspended = await self.store.callbacks.suspended()
            CALLBACKS_SUSPENDED.set(len(suspended))
            for key in suspended:
                try:
                    result = await self.health_check(key)
                    if result is not None and cb.classify(result["status_code"]) == "ok":
                        log.info("callback probe succeeded", extra={"service_id": str(key[0])})
                        await self.resume(key[0], [key[1]])
                except DatabaseUnavailable:
                    break  # logged once by the store; probe again next round
                except Exception:
                    log.exception("callback probe failed", extra={"service_id": str(key[0])})
            try:
                await callback_origins.probe(self)
            except DatabaseUnavailable:
                pass  # logged once by the store; probe again next round
            await trio.sleep(self._probe_every)

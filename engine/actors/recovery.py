"""Recovery: nothing acknowledged is lost, nothing is sent twice by the engine itself.

Ownership: a notification inserted for immediate sending carries ``owner`` = this process's
current registration id (``engine.actors.ownership``: the fence, its lease and its
heartbeats; the timing rules in ``engine.domain.ownership``). Scheduled notifications and
lane overflow carry ``owner = NULL``. A stopping process deletes its ``workers`` row once
its actors have stopped (``shutdown``) and keeps ownership of its rows: an owner not in
``workers`` is gone for good, so the next sweep anywhere claims them at once. It must not
release them instead: a ``sending`` mark still in the store's writer when the actors stop
lands after any release, and an unowned ``sending`` row is one recovery cannot tell from a
live send (issue 20: 2 notifications stranded in 1 of 22 stops under load).

Every ``sweep_every`` seconds a process first declares dead the registrations silent for
``dead_after`` seconds (``reap``: only if its own heartbeats have been continuous that
long, so after a database outage nobody is declared dead on heartbeats nobody could
write), then claims (``FOR UPDATE SKIP LOCKED``, so processes never claim the same row)
and enqueues:
- ``created`` rows that are due (``scheduled_for`` passed or NULL) and unowned, or owned by
  an id no longer registered;
- ``sending`` rows of an unregistered owner that have no provider reference, once their
  mark is older than the sending grace (3 x ``dead_after`` + the provider call's deadline,
  ``engine.domain.ownership``): the owner died or froze during the provider call, so the
  provider may have accepted them. Within the grace a frozen owner comes back and records
  the provider's reference (and then the row is never claimed); after it they are resent
  (at-least-once) and counted in ``notify_recovery_requeued_total{status="sending"}``.
  A live process never has such a row resent: it sends only while its lease is valid, and
  a lease has run out ``dead_after / 3`` before the registration can be declared dead.
Rows of a bulk job still being written are never claimed (``engine.store.jobs``).
Every ``timeout_every`` seconds the contract's timeouts apply: ``created`` older than
3 days -> technical-failure; ``sending``/``pending``/``sent`` older than 3 days ->
temporary-failure; bulk jobs left unsendable by a crash (still ``pending`` after
``abandoned_job_age``) are deleted with their rows. The ``housekeeping`` jobs run on the
same cadence (deleting expired attached files, for one); a failing job is logged and tried
again next time, it never stops recovery.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from engine.actors.ownership import Ownership
from engine.domain import statuses as st
from engine.domain.ownership import sending_grace
from engine.domain.timestamps import utcnow
from engine.metrics import RECOVERY_REQUEUED, RECOVERY_SWEEPS
from engine.store.errors import DatabaseUnavailable
from engine.store.notifications import StatusUpdate
from engine.store.store import Store

log = logging.getLogger("engine.recovery")

Requeue = Callable[[Sequence[Any]], Awaitable[int]]
Housekeeping = Callable[[], Awaitable[object]]

ReplayReceipts = Callable[[Sequence[Any]], Awaitable[None]]


class Recovery:
    def __init__(
        self,
        store: Store,
        requeue: Requeue,
        on_changes: Callable[[Sequence[Any]], Awaitable[None]],
        *,
        ownership: Ownership | None = None,
        sweep_every: float = 5.0,
        dead_after: float = 30.0,
        provider_timeout: float = 5.0,
        timeout_every: float = 600.0,
        timeout_age: dt.timedelta = dt.timedelta(days=3),
        abandoned_job_age: dt.timedelta = dt.timedelta(hours=1),
        batch: int = 2000,
        replay_receipts: ReplayReceipts | None = None,
        housekeeping: Sequence[Housekeeping] = (),
    ) -> None:
        self.store = store
        # Without one given, the recovery runs its own registration's heartbeats.
        self._heartbeats = ownership is None
        self.ownership = ownership or Ownership(store.recovery, dead_after=dead_after)
        self._requeue = requeue
        self._on_changes = on_changes
        self._sweep_every = sweep_every
        self._dead_after = dead_after
        self.sending_grace = sending_grace(dead_after, provider_timeout)
        self._timeout_every = timeout_every
        self._timeout_age = timeout_age
        self._abandoned_job_age = abandoned_job_age
        self._batch = batch
        self._replay_receipts = replay_receipts
        self._housekeeping = tuple(housekeeping)
        self._release_send, self._release_recv = trio.open_memory_channel[uuid.UUID](100_000)
        self._sweep_now = trio.Event()

    @property
    def worker_id(self) -> uuid.UUID:
        """The current registration's id (it changes when the registration was lost)."""
        return self.ownership.owner

    async def register(self) -> None:
        await self.ownership.register()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            if self._heartbeats:
                nursery.start_soon(self.ownership.run)
            nursery.start_soon(self._releaser)
            task_status.started()
            last_timeout = -self._timeout_every
            while True:
                await self.sweep()
                if trio.current_time() - last_timeout >= self._timeout_every:
                    await self.apply_timeouts()
                    await self.discard_abandoned_jobs()
                    await self.run_housekeeping()
                    last_timeout = trio.current_time()
                with trio.move_on_after(self._sweep_every):
                    await self._sweep_now.wait()
                self._sweep_now = trio.Event()

    def wake(self) -> None:
        self._sweep_now.set()

    async def sweep(self) -> int:
        """Declare the silent dead, then claim and requeue what no registered process owns.
        Returns how many were requeued."""
        RECOVERY_SWEEPS.inc()
        times = self.ownership.times
        dead = await self.store.recovery.reap(
            self.worker_id, dead_after=self._dead_after, gap=times.gap
        )
        if dead:
            log.warning("declared dead", extra={"workers": [str(w) for w in dead]})
        total = 0
        while True:
            rows = await self.store.recovery.claim(
                self.worker_id, sending_grace=self.sending_grace, limit=self._batch
            )
            if not rows:
                return total
            for row in rows:
                RECOVERY_REQUEUED.labels(row["status"]).inc()
            queued = await self._requeue(rows)
            total += queued
            if queued < len(rows) or len(rows) < self._batch:
                break
        if self._replay_receipts is not None:
            for _ in range(100):  # bounded: at most 100 batches a sweep
                rows = await self.store.recovery.claim_simulated(self.worker_id, limit=self._batch)
                if rows:
                    await self._replay_receipts(rows)
                if len(rows) < self._batch:
                    break
        return total

    async def apply_timeouts(self) -> None:
        cutoff = utcnow() - self._timeout_age
        now = utcnow()
        for old, new in (((st.CREATED,), st.TECHNICAL_FAILURE),
                         ((st.SENDING, st.PENDING, st.SENT), st.TEMPORARY_FAILURE)):  # fmt: skip
            ids = await self.store.recovery.stuck(old, created_before=cutoff)
            if ids:
                changes = await self.store.update_statuses(
                    [
                        StatusUpdate(id=i, status=new, at=now, provider_response="Timed out")
                        for i in ids
                    ]
                )
                await self._on_changes(changes)
                log.info("timed out notifications", extra={"status": new, "count": len(changes)})

    async def discard_abandoned_jobs(self) -> int:
        """Delete bulk jobs whose writer died before making them sendable (no 201 was
        sent: the client retries the whole job), with their rows."""
        cutoff = utcnow() - self._abandoned_job_age
        count = await self.store.jobs.discard_abandoned(created_before=cutoff)
        if count:
            log.warning("discarded unsendable bulk jobs", extra={"count": count})
        return count

    async def run_housekeeping(self) -> None:
        for job in self._housekeeping:
            try:
                await job()
            except DatabaseUnavailable:
                return  # logged once by the store; the next round tries again
            except Exception:
                log.exception("housekeeping job failed", extra={"job": repr(job)})

    def release_soon(self, notification_id: uuid.UUID) -> None:
        """Give up ownership of a row this process could not queue (lane full)."""
        try:
            self._release_send.send_nowait(notification_id)
        except trio.WouldBlock:
            # Still safe: the row keeps our id and is claimed after we die or restart.
            log.warning("release queue full", extra={"notification_id": str(notification_id)})

    async def _releaser(self) -> None:
        async for first in self._release_recv:
            ids = [first]
            while len(ids) < 5000:
                try:
                    ids.append(self._release_recv.receive_nowait())
                except trio.WouldBlock:
                    break
            # Conditional on the current id: a row of a lost registration is claimed anyway.
            # Tried again through an outage: a row this live process owns but no longer
            # holds would wait for its stop (fencing: nobody else may take it).
            for _ in range(600):  # bounded: ten minutes of outage
                try:
                    await self.store.recovery.release(self.worker_id, ids)
                    break
                except DatabaseUnavailable:  # logged once by the store
                    await trio.sleep(1.0)
            await trio.sleep(0.05)

    async def shutdown(self) -> None:
        """Leave ``workers`` (call once the actors have stopped): this process's rows keep
        its id, and the next sweep anywhere claims them at once, ``sending`` ones without a
        provider reference included."""
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            try:
                await self.store.recovery.unregister(self.worker_id)
            except DatabaseUnavailable:
                # Stopping is not an error: the heartbeat stops with us, and other
                # processes take our rows over once it is ``dead_after`` old.
                log.warning("stopped without leaving workers: database unavailable")

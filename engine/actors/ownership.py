"""Ownership: this process's registration (its fence) and its lease, kept alive by heartbeats.

Rules (timings and the argument: ``engine.domain.ownership``):
- ``owner`` is the id every claim of this process records (notifications, the callback
  queue, bulk job pages) and every conditional write names. Registering again gives a new
  id; an id once lost is never used again.
- ``run`` heartbeats every ``heartbeat_every`` seconds (sooner when someone waits for a
  renewal). A heartbeat is timed from before it is issued (``trio.current_time``); a
  database that does not answer is not a death: the lease simply runs out, and acting on
  owned rows stops until a heartbeat succeeds.
- A heartbeat that finds the registration gone means another process declared this one
  dead (a pause or an outage longer than ``dead_after``) and may be taking its rows: the
  process registers again under a new id. Nothing is dropped eagerly: every message or
  callback held in memory carries the owner id it was claimed under, and is acted on only
  if its conditional write succeeds and ``holds`` its owner (the current id, lease valid);
  the others are dropped where that check is made. Rows of the old id that nobody has
  claimed yet are claimed by the next sweep (this process's or another's).
- ``acting(owner)`` is the check before every provider call and callback POST: it waits
  while the lease of the current registration is being renewed, and says False once the
  owner is not the current registration.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Protocol

import trio

from engine.domain.ownership import Lease, LeaseTimes, lease_times
from engine.metrics import OWNERSHIP_LOST
from engine.store.errors import DatabaseUnavailable

log = logging.getLogger("engine.ownership")


class Registrations(Protocol):
    """``engine.store.recovery.Recovery``'s registration queries."""

    async def register(self, worker_id: uuid.UUID, *, hostname: str, pid: int) -> None: ...
    async def heartbeat(self, worker_id: uuid.UUID, *, gap: float) -> bool: ...


class Ownership:
    def __init__(
        self,
        registrations: Registrations,
        *,
        dead_after: float = 30.0,
        owner: uuid.UUID | None = None,
        times: LeaseTimes | None = None,
    ) -> None:
        self._db = registrations
        self.times = times or lease_times(dead_after)
        self.owner = owner or uuid.uuid4()
        self.lease = Lease(self.times.lease)
        self.registrations = 0  # how many times this process registered (metrics, tests)
        self._changed = trio.Event()  # set on every renewal or new registration
        self._renew_now = trio.Event()

    async def register(self) -> None:
        """Register ``owner`` (a fresh one after the first time)."""
        if self.registrations:
            self.owner = uuid.uuid4()
        started = trio.current_time()
        await self._db.register(self.owner, hostname=socket.gethostname(), pid=os.getpid())
        self.registrations += 1
        self.lease.renewed(started)
        self._signal()

    def valid(self) -> bool:
        return self.lease.valid(trio.current_time())

    def holds(self, owner: uuid.UUID | None) -> bool:
        """May this process act on a row it claimed as ``owner`` now? (None: an unfenced
        message, as built by tests without a store.)"""
        return (owner is None or owner == self.owner) and self.valid()

    async def acting(self, owner: uuid.UUID | None) -> bool:
        """Wait until the current registration's lease is valid; True if ``owner`` is that
        registration. Waits as long as the database does not answer (cancellable)."""
        while True:
            if owner is not None and owner != self.owner:
                return False
            if self.valid():
                return True
            changed = self._changed
            self._renew_now.set()
            await changed.wait()

    async def renew(self) -> bool:
        """One heartbeat. False if the database did not answer. Registers again when the
        registration was lost."""
        started = trio.current_time()
        try:
            alive = await self._db.heartbeat(self.owner, gap=self.times.gap)
            if not alive:
                lost = self.owner
                OWNERSHIP_LOST.inc()
                self.lease.lost()
                await self.register()
                log.warning(
                    "registration lost (declared dead by another process): registered again",
                    extra={"lost": str(lost), "owner": str(self.owner)},
                )
                return True
        except DatabaseUnavailable:
            return False  # logged once by the store; the lease runs out meanwhile
        self.lease.renewed(started)
        self._signal()
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        every = self.times.heartbeat_every
        delay = every
        while True:
            with trio.move_on_after(delay):
                await self._renew_now.wait()
            self._renew_now = trio.Event()
            # The database did not answer: try again soon (the lease is running out).
            delay = every if await self.renew() else min(every, 0.5)

    def _signal(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

"""ServiceActors: the running ServiceActor of each service with traffic, and the door to it.

Rules:
- A service's actor starts on its first request (``get``), in the nursery given to
  ``start``; concurrent first requests share one start. Its counts of today's and this
  fiscal year's messages are loaded from the store before it admits anything.
- A change to a service, in any process, marks its actor stale (``service_changed``;
  every actor: ``all_changed``): the next ``get`` gives it the new service row (limits
  may have changed) and it keeps its counts.
- ``dispatch`` hands a committed notification to its service's lane and never blocks the
  API: a full lane releases the row's ownership (``release``) and the recovery sweep sends
  it later (the row is durable already).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from functools import partial
from typing import Protocol

import trio

from engine.actors.service import Route, ServiceActor
from engine.actors.supervisor import supervise
from engine.domain.limits import fiscal_year_start
from engine.domain.notification import Outbound
from engine.services import ServiceBundle
from engine.store.counts import SentCounts


class SentCountQueries(Protocol):
    """The store's ``counts`` subject, as far as starting an actor needs it."""

    async def sent(
        self, service_id: uuid.UUID, *, day_start: dt.datetime, year_start: dt.datetime
    ) -> list[SentCounts]: ...


class ServiceActors:
    def __init__(
        self,
        counts: SentCountQueries,
        route: Route,
        release: Callable[[uuid.UUID], None],
    ) -> None:
        self._counts = counts
        self._route = route
        self._release = release
        self._services: dict[uuid.UUID, ServiceActor] = {}
        self._starting: dict[uuid.UUID, trio.Event] = {}
        self._stale: set[uuid.UUID] = set()
        self._nursery: trio.Nursery | None = None

    def start(self, nursery: trio.Nursery) -> None:
        """Actors started from now on run in ``nursery``."""
        self._nursery = nursery

    async def get(self, bundle: ServiceBundle) -> ServiceActor:
        service_id = bundle.service.id
        actor = self._services.get(service_id)
        if actor is not None:
            if service_id in self._stale:
                # Limits may have changed: the actor keeps its counts, takes the new row.
                self._stale.discard(service_id)
                actor.service = bundle.service
            return actor
        starting = self._starting.get(service_id)
        if starting is not None:
            await starting.wait()
            return self._services[service_id]
        event = self._starting[service_id] = trio.Event()
        try:
            actor = ServiceActor(bundle.service, self._route)
            await self._load_counts(actor)
            assert self._nursery is not None
            await self._nursery.start(partial(supervise, "service", actor.run))
            self._services[service_id] = actor
            return actor
        finally:
            del self._starting[service_id]
            event.set()

    async def _load_counts(self, actor: ServiceActor) -> None:
        today = dt.datetime.now(dt.UTC).date()
        day_start = dt.datetime.combine(today, dt.time(), dt.UTC)
        year_start = dt.datetime.combine(fiscal_year_start(today), dt.time(), dt.UTC)
        sent = await self._counts.sent(actor.service.id, day_start=day_start, year_start=year_start)
        for c in sent:
            if c.notification_type == "email":
                actor.counts.email_today = c.today_messages
                actor.counts.email_year = c.year_messages
            elif c.notification_type == "sms":
                actor.counts.sms_today = c.today_units
                actor.counts.sms_year = c.year_messages

    def service_changed(self, service_id: uuid.UUID) -> None:
        self._stale.add(service_id)

    def all_changed(self) -> None:
        self._stale.update(self._services)

    def dispatch(self, actor: ServiceActor, message: Outbound) -> None:
        """Hand a committed notification to its service's lane (never blocks the API).

        A full lane releases the row's ownership: the recovery sweep sends it later."""
        if not actor.enqueue_nowait(message):
            self._release(message.notification_id)

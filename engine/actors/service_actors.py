"""ServiceActors: the running ServiceActor of each service with traffic, and the door to it.

Rules:
- A service's actor starts on its first request (``get``), in the nursery given to
  ``start``; concurrent first requests share one start. Its limits are deployment-wide
  budgets in the store (``engine.store.budgets``) that it leases blocks of as it goes
  (``engine.actors.service``); a stopping actor gives its unspent blocks back.
- A change to a service, in any process, marks its actor stale (``service_changed``;
  every actor: ``all_changed``): the next ``get`` gives it the new service row (limits
  may have changed); its next lease asks the table with the new limits.
- ``dispatch`` hands a committed notification to its service's lane and never blocks the
  API: a full lane releases the row's ownership (``release``) and the recovery sweep sends
  it later (the row is durable already).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial

import trio

from engine.actors.service import BudgetStore, Route, ServiceActor
from engine.actors.supervisor import supervise
from engine.domain.notification import Outbound
from engine.domain.team_mail import Notice
from engine.services import ServiceBundle


class ServiceActors:
    def __init__(
        self,
        budgets: BudgetStore,
        route: Route,
        release: Callable[[uuid.UUID], None],
        *,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        self._budgets = budgets
        self._on_notice = on_notice
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
            actor = ServiceActor(
                bundle.service, self._route, self._budgets, on_notice=self._on_notice
            )
            assert self._nursery is not None
            await self._nursery.start(partial(supervise, "service", actor.run))
            self._services[service_id] = actor
            return actor
        finally:
            del self._starting[service_id]
            event.set()

    def service_changed(self, service_id: uuid.UUID) -> None:
        self._stale.add(service_id)

    def all_changed(self) -> None:
        self._stale.update(self._services)

    def dispatch(self, actor: ServiceActor, message: Outbound) -> None:
        """Hand a committed notification to its service's lane (never blocks the API).

        A full lane releases the row's ownership: the recovery sweep sends it later."""
        if not actor.enqueue_nowait(message):
            self._release(message.notification_id)

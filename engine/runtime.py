"""Engine lifecycle: open the store, start the actors, hand the running engine to the server.

Ownership (nursery tree):

    open_engine
    └── store nursery: Store writers (outlive everything that writes)
        └── actor nursery: ReceiptsActor, ProviderActors (+ simulated receipt emitters),
                           ServiceActors (started lazily, one per service with traffic)

Shutdown runs in reverse: the server has already drained; actors are cancelled (queued
messages are safe: every one of them is a committed ``created`` row that recovery resends);
then the store closes its mailboxes and its writers flush what they hold before returning.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from engine.actors.provider import ProviderActor
from engine.actors.receipts import ReceiptsActor
from engine.actors.recovery import Recovery
from engine.actors.service import ServiceActor
from engine.actors.store import StatusChange, StatusUpdate, Store, utcnow
from engine.actors.supervisor import supervise
from engine.config import Settings
from engine.crypto import SecretBox
from engine.domain import statuses as st
from engine.domain.limits import fiscal_year_start
from engine.domain.templates import CompiledEmailTemplate, CompiledSmsTemplate
from engine.metrics import STATUS_TRANSITIONS
from engine.outbound import outbound_from_row
from engine.providers.base import Outbound, Receipt
from engine.providers.simulated import SimulatedProvider
from engine.services import Registry, ServiceBundle, Template

log = logging.getLogger("engine.runtime")


class Engine:
    def __init__(self, settings: Settings, store: Store, box: SecretBox) -> None:
        self.settings = settings
        self.store = store
        self.box = box
        self.registry = Registry(store, box)
        self._compiled: dict[tuple[uuid.UUID, int, str | None], Any] = {}
        self._services: dict[uuid.UUID, ServiceActor] = {}
        self._starting: dict[uuid.UUID, trio.Event] = {}
        self._routes: dict[tuple[str, bool], list[ProviderActor]] = {}
        self.providers: dict[str, ProviderActor] = {}
        self._nursery: trio.Nursery | None = None
        self.receipts: ReceiptsActor | None = None
        self._stale: set[uuid.UUID] = set()
        self.recovery = Recovery(store, self.requeue, self.on_changes)
        self.worker_id = self.recovery.worker_id

    # -- startup ---------------------------------------------------------------------
    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.receipts = ReceiptsActor(self.store, self.on_changes, self.on_complaints)
        await nursery.start(partial(supervise, "receipts", self.receipts.run))
        s = self.settings
        for channel, names in (("email", s.email_providers), ("sms", s.sms_providers)):
            live = [await self._start_provider(channel, n.strip()) for n in names.split(",") if n]
            self._routes[(channel, True)] = live
            # Test keys never reach a real provider.
            self._routes[(channel, False)] = [await self._start_provider(channel, "simulated")]
        await self.recovery.register()
        await nursery.start(partial(supervise, "recovery", self.recovery.run))

    async def _start_provider(self, channel: str, kind: str) -> ProviderActor:
        name = f"{kind}-{channel}"
        if name in self.providers:
            return self.providers[name]
        assert self._nursery is not None
        assert self.receipts is not None
        s = self.settings
        if kind == "simulated":
            provider = SimulatedProvider(
                channel,  # type: ignore[arg-type]
                self.receipts.send_channel.clone(),
                name=name,
                latency=s.simulated_latency_ms / 1000,
                receipt_delay=s.simulated_receipt_delay_ms / 1000,
            )
            await self._nursery.start(provider.run)
        else:
            raise ValueError(f"unknown provider {kind!r} in NOTIFY_{channel.upper()}_PROVIDERS")
        actor = ProviderActor(provider, self.store, self.on_changes)
        await self._nursery.start(partial(supervise, "provider", actor.run))
        self.providers[name] = actor
        return actor

    # -- service actors --------------------------------------------------------------
    async def service_actor(self, bundle: ServiceBundle) -> ServiceActor:
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
            actor = ServiceActor(bundle.service, self.route)
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
        rows = await self.store.fetch(
            "SELECT notification_type,"
            " count(*) FILTER (WHERE created_at >= $2) AS today_messages,"
            " coalesce(sum(billable_units) FILTER (WHERE created_at >= $2), 0) AS today_units,"
            " count(*) AS year_messages"
            " FROM notifications WHERE service_id = $1 AND key_type <> 'test'"
            " AND created_at >= $3 GROUP BY notification_type",
            actor.service.id,
            day_start,
            year_start,
        )
        for r in rows:
            if r["notification_type"] == "email":
                actor.counts.email_today = r["today_messages"]
                actor.counts.email_year = r["year_messages"]
            elif r["notification_type"] == "sms":
                actor.counts.sms_today = int(r["today_units"])
                actor.counts.sms_year = r["year_messages"]

    def service_changed(self, service_id: uuid.UUID) -> None:
        self.registry.invalidate(service_id)
        self._stale.add(service_id)

    def dispatch(self, actor: ServiceActor, message: Outbound) -> None:
        """Hand a committed notification to its service's lane (never blocks the API).

        A full lane releases the row's ownership: the recovery sweep sends it later."""
        if not actor.enqueue_nowait(message):
            self.recovery.release_soon(message.notification_id)

    async def requeue(self, rows: Sequence[Any]) -> int:
        """Queue claimed rows (recovery, scheduled sends). Returns how many were queued."""
        queued = 0
        failed: list[StatusUpdate] = []
        for row in rows:
            bundle = await self.registry.get(row["service_id"])
            template = await self.registry.template_version(
                row["template_id"], row["template_version"]
            )
            if bundle is None or template is None:
                failed.append(
                    StatusUpdate(
                        id=row["id"],
                        status=st.TECHNICAL_FAILURE,
                        at=utcnow(),
                        provider_response="Template or service missing",
                    )
                )
                continue
            message = outbound_from_row(
                row, bundle, self.compiled(template, bundle), self.settings.notify_email_domain
            )
            actor = await self.service_actor(bundle)
            if actor.enqueue_nowait(message):
                queued += 1
            else:
                self.recovery.release_soon(row["id"])
        if failed:
            await self.on_changes(await self.store.update_statuses(failed))
        return queued

    async def route(self, message: Outbound) -> None:
        live = message.key_type != "test"
        actors = self._routes[(message.__struct_config__.tag, live)]  # type: ignore[index]
        await actors[0].send_channel.send(message)

    # -- templates -------------------------------------------------------------------
    def compiled(self, template: Template, bundle: ServiceBundle) -> Any:
        prefix = (
            bundle.service.name
            if template.template_type == "sms" and bundle.service.prefix_sms
            else None
        )
        key = (template.id, template.version, prefix)
        compiled = self._compiled.get(key)
        if compiled is None:
            if template.template_type == "email":
                compiled = CompiledEmailTemplate(template.subject or "", template.content)
            else:
                compiled = CompiledSmsTemplate(template.content, prefix=prefix)
            self._compiled[key] = compiled
        return compiled

    # -- status changes --------------------------------------------------------------
    async def on_changes(self, changes: Sequence[StatusChange]) -> None:
        for change in changes:
            if change.status != change.previous_status:
                STATUS_TRANSITIONS.labels(change.notification_type, change.status).inc()

    async def on_complaints(self, receipts: Sequence[Receipt]) -> None:
        log.info("complaints received", extra={"count": len(receipts)})

    async def callback_health_check(self, service_id: uuid.UUID, callback_type: str) -> Any:
        return None

    def readiness_problems(self) -> list[str]:
        problems = []
        if self.receipts is None or not self.providers:
            problems.append("actors not started")
        return problems


@asynccontextmanager
async def open_engine(settings: Settings, box: SecretBox) -> AsyncIterator[Engine]:
    """Run inside ``trio_asyncio.open_loop()``. Yields a started engine."""
    dsn = settings.database_url
    if not dsn:
        from engine.db.embedded import start_embedded

        dsn = await trio.to_thread.run_sync(start_embedded, settings.data_dir)
    async with Store.open(
        dsn,
        pool_size=settings.db_pool_size,
        batch_rows=settings.store_batch_rows,
        linger_ms=settings.store_linger_ms,
        writers=settings.store_writers,
    ) as store:
        applied = await store.migrate()
        if applied:
            log.info("migrations applied", extra={"versions": applied})
        async with trio.open_nursery() as store_nursery:
            await store_nursery.start(store.run)
            try:
                async with trio.open_nursery() as actors:
                    engine = Engine(settings, store, box)
                    await engine.start(actors)
                    try:
                        yield engine
                    finally:
                        actors.cancel_scope.cancel()
                        await engine.recovery.shutdown()
            finally:
                with trio.CancelScope(shield=True):
                    await store.close()

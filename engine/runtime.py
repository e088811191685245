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
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from engine import gc_policy
from engine.actors.callbacks import CallbackManager
from engine.actors.provider import ProviderActor, parse_send_rates
from engine.actors.receipts import ReceiptsActor
from engine.actors.recovery import Recovery
from engine.actors.service import ServiceActor
from engine.actors.sqs_poller import SqsPoller
from engine.actors.supervisor import supervise
from engine.config import Settings
from engine.crypto import SecretBox
from engine.domain import statuses as st
from engine.domain.callbacks import CALLBACK_STATUSES
from engine.domain.limits import fiscal_year_start
from engine.domain.notification import from_address, stored_outbound
from engine.domain.templates import CompiledEmailTemplate, CompiledSmsTemplate
from engine.domain.timestamps import utcnow
from engine.observability import observe_changes, watch_loop_lag
from engine.providers import aws
from engine.providers.base import Outbound, Receipt
from engine.providers.ses import open_ses
from engine.providers.simulated import SimulatedProvider
from engine.providers.sns import open_sns
from engine.services import Registry, ServiceBundle, Template
from engine.store.notifications import StatusChange, StatusUpdate
from engine.store.store import Store

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
        self._simulated: dict[str, SimulatedProvider] = {}
        self.recovery = Recovery(
            store,
            self.requeue,
            self.on_changes,
            sweep_every=settings.recovery_sweep_seconds,
            dead_after=settings.recovery_dead_after_seconds,
            heartbeat_every=min(5.0, settings.recovery_dead_after_seconds / 3),
            replay_receipts=self.replay_simulated_receipts,
            housekeeping=[store.documents.delete_expired],
        )
        self.worker_id = self.recovery.worker_id
        self.callbacks = CallbackManager(
            store,
            self.registry,
            self.worker_id,
            timeout=settings.callback_timeout,
            max_retries=settings.callback_max_retries,
            retry_seconds=settings.callback_retry_seconds,
            concurrency=settings.callback_concurrency,
            queue_size=settings.callback_queue_size,
            poll=settings.callback_poll_seconds,
            probe_every=settings.callback_probe_seconds,
            dead_after=settings.recovery_dead_after_seconds,
        )

    # -- startup ---------------------------------------------------------------------
    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.receipts = ReceiptsActor(self.store, self.on_changes, self.on_complaints)
        await nursery.start(partial(supervise, "receipts", self.receipts.run))
        s = self.settings
        if s.receipts_sqs_queue_url:
            poller = SqsPoller(s, self.receipts.submit)
            await nursery.start(partial(supervise, "sqs-poller", poller.run))
        for channel, names in (("email", s.email_providers), ("sms", s.sms_providers)):
            live = [await self._start_provider(channel, n.strip()) for n in names.split(",") if n]
            self._routes[(channel, True)] = live
            for primary, secondary in itertools.pairwise(live):
                if secondary is not primary:  # batches move on while primary's breaker is open
                    primary.fallback = secondary
            # Test keys never reach a real provider.
            self._routes[(channel, False)] = [await self._start_provider(channel, "simulated")]
        await self.recovery.register()
        await nursery.start(partial(supervise, "recovery", self.recovery.run))
        await nursery.start(partial(supervise, "callbacks", self.callbacks.run))
        await nursery.start(watch_loop_lag)
        await nursery.start(gc_policy.watch_pauses)

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
            self._simulated[name] = provider
        elif (kind, channel) == ("ses", "email"):
            # The AWS client lives in its own task: closed when the actor nursery is cancelled.
            provider = await self._nursery.start(aws.serve, partial(open_ses, s, name=name))
        elif (kind, channel) == ("sns", "sms"):
            provider = await self._nursery.start(aws.serve, partial(open_sns, s, name=name))
        else:
            raise ValueError(f"unknown provider {kind!r} in NOTIFY_{channel.upper()}_PROVIDERS")
        rate = parse_send_rates(s.provider_send_rates).get(kind)
        actor = ProviderActor(
            provider,
            self.store,
            self.on_changes,
            send_rate=rate,
            linger=s.provider_linger_ms / 1000,
        )
        await self._nursery.start(partial(supervise, "provider", actor.run))
        self.providers[name] = actor
        return actor

    async def replay_simulated_receipts(self, rows: Sequence[Any]) -> None:
        """Recovery found simulated sends of a dead process: schedule their receipts."""
        for row in rows:
            provider = self._simulated.get(row["provider"])
            if provider is not None:
                await provider.replay(
                    [(row["provider_reference"], row["notification_type"], row["recipient"])]
                )

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
        sent = await self.store.counts.sent(
            actor.service.id, day_start=day_start, year_start=year_start
        )
        for c in sent:
            if c.notification_type == "email":
                actor.counts.email_today = c.today_messages
                actor.counts.email_year = c.year_messages
            elif c.notification_type == "sms":
                actor.counts.sms_today = c.today_units
                actor.counts.sms_year = c.year_messages

    def service_changed(self, service_id: uuid.UUID) -> None:
        self.registry.invalidate(service_id)
        self._stale.add(service_id)

    def start_soon(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run a background task (e.g. a bulk job feeder) in the actors' nursery."""
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)

    def dispatch(self, actor: ServiceActor, message: Outbound) -> None:
        """Hand a committed notification to its service's lane (never blocks the API).

        A full lane releases the row's ownership: the recovery sweep sends it later."""
        if not actor.enqueue_nowait(message):
            self.recovery.release_soon(message.notification_id)

    async def requeue(self, rows: Sequence[Any]) -> int:
        """Queue claimed rows (recovery, scheduled sends). Returns how many were queued."""
        queued = 0
        failed: list[StatusUpdate] = []
        # Emails sent with "attach" files get them back from the documents table.
        emails = [r["id"] for r in rows if r["notification_type"] == "email"]
        attached = await self.store.documents.load_attachments(emails)
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
            message = stored_outbound(
                row,
                self.compiled(template, bundle),
                from_address(bundle.service, self.settings.notify_email_domain),
                attached.get(row["id"], ()),
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
        # The first provider whose breaker takes traffic; if none does, the first one holds it.
        actor = next((a for a in actors if a.available()), actors[0])
        await actor.submit(message)

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
        observe_changes(changes)
        # The owed callbacks are already in callback_queue (same transaction): just wake.
        if any(c.status in CALLBACK_STATUSES for c in changes):
            self.callbacks.wake()

    async def on_complaints(self, receipts: Sequence[Receipt]) -> None:
        # ``rows``: the complaints recorded for the first time (complaint callbacks use them).
        rows = await self.store.complaints.record(receipts)
        log.info("complaints received", extra={"count": len(receipts), "new": len(rows)})
        if rows:
            self.callbacks.wake()  # their callbacks were queued with them (migration 0002)

    async def callback_health_check(self, service_id: uuid.UUID, callback_type: str) -> Any:
        """A callback was set or changed: clean breaker, then ``{"health_check": "true"}``."""
        self.callbacks.reset((service_id, callback_type))
        self.callbacks.wake()
        return await self.callbacks.health_check((service_id, callback_type))

    def readiness_problems(self) -> list[str]:
        problems = []
        if self.receipts is None or not self.providers:
            problems.append("actors not started")
        return problems


@asynccontextmanager
async def open_engine(settings: Settings, box: SecretBox) -> AsyncIterator[Engine]:
    """Yields a started engine (its actors, providers and database thread running)."""
    dsn = settings.database_url
    if not dsn:
        from engine.store.embedded import start_embedded

        dsn = await trio.to_thread.run_sync(start_embedded, settings.data_dir)
    async with Store.open(
        dsn,
        pool_size=settings.db_pool_size,
        batch_rows=settings.store_batch_rows,
        status_linger_ms=settings.store_status_linger_ms,
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

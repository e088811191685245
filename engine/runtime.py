"""Engine wiring and lifecycle: build the parts, open the store, start the actors, hand the
API its dependencies (``Engine.api_deps``), stop in reverse.

Where each part's rules live: provider routing and failover in ``engine.actors.routing``,
service actors and dispatch in ``engine.actors.service_actors``, the status fan-out in
``engine.actors.callbacks``, the template cache beside the registry in ``engine.services``.

Ownership (nursery tree):

    open_engine
    └── store nursery: Store writers (outlive everything that writes)
        └── actor nursery: ReceiptsActor, ProviderActors (+ simulated receipt emitters),
                           ServiceActors (started lazily, one per service with traffic),
                           Scanner (files: clamd), the files bucket's client

Shutdown runs in reverse: the server has already drained; actors are cancelled (queued
messages are safe: every one of them is a committed ``created`` row that recovery resends);
once they have stopped the process leaves ``workers`` (its rows keep its id: the next sweep
claims them); then the store closes its mailboxes and its writers flush what they hold
before returning.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import trio

from engine import gc_policy
from engine.actors.callbacks import CallbackManager
from engine.actors.ownership import Ownership
from engine.actors.provider import ProviderActor
from engine.actors.receipts import ReceiptsActor
from engine.actors.recovery import Recovery
from engine.actors.routing import ProviderRoutes
from engine.actors.scanner import Scanner
from engine.actors.service_actors import ServiceActors
from engine.actors.supervisor import supervise
from engine.actors.team_mail import TeamMailer
from engine.api.deps import ApiDeps, ApiSettings
from engine.api.key_usage import KeyUsage
from engine.config import Settings
from engine.crypto import DataKeys, SecretBox
from engine.domain import console_people
from engine.domain import statuses as st
from engine.domain.branding import asset_base
from engine.domain.notification import from_address, stored_language, stored_outbound
from engine.domain.timestamps import utcnow
from engine.metrics import RETENTION_PURGED
from engine.observability import watch_loop_lag
from engine.providers.clamd import ClamdClient
from engine.services import Registry, TemplateCache, email_frame
from engine.startup import EXIT_CONFIG, StartupError, database_error
from engine.store.errors import is_unavailability
from engine.store.notifications import StatusUpdate
from engine.store.store import Store

log = logging.getLogger("engine.runtime")
# Where Debian's clamav-daemon listens (its clamd.conf LocalSocket).
DEBIAN_CLAMD_SOCKET = "/var/run/clamav/clamd.ctl"


class Engine:
    """The running engine's parts, built and wired together; ``start`` runs them."""

    def __init__(self, settings: Settings, store: Store, box: SecretBox) -> None:
        self.settings = settings
        self.store = store
        self.box = box
        self.registry = Registry(
            store,
            box,
            phone_region=settings.default_phone_region,
            time_zone=settings.default_time_zone,
        )
        self.template_cache = TemplateCache()
        # This process's registration (the fence every claim records) and its lease.
        self.ownership = Ownership(store.recovery, dead_after=settings.recovery_dead_after_seconds)
        self.asset_base = asset_base(settings.public_url, settings.host, settings.port)
        self.receipts: ReceiptsActor | None = None
        self.team_mail = TeamMailer(store)
        self.callbacks = CallbackManager(
            store,
            self.registry,
            self.ownership,
            timeout=settings.callback_timeout,
            allow_http=settings.callback_allow_http,
            allow_private=settings.callback_allow_private,
            max_retries=settings.callback_max_retries,
            retry_seconds=settings.callback_retry_seconds,
            concurrency=settings.callback_concurrency,
            queue_size=settings.callback_queue_size,
            poll=settings.callback_poll_seconds,
            probe_every=settings.callback_probe_seconds,
            on_notice=self.team_mail.post,
        )
        self.routes = ProviderRoutes(
            settings, store, self.callbacks.on_changes, ownership=self.ownership
        )
        self.recovery = Recovery(
            store,
            self.requeue,
            self.callbacks.on_changes,
            ownership=self.ownership,
            sweep_every=settings.recovery_sweep_seconds,
            dead_after=settings.recovery_dead_after_seconds,
            provider_timeout=settings.provider_timeout_seconds,
            replay_receipts=self.routes.replay_simulated_receipts,
            housekeeping=[
                store.documents.delete_expired,
                partial(purge_expired, store),
                store.reports.delete_expired,  # issue 24: reports past their 3 days
                store.documents.delete_gone_objects,
                store.idempotency.purge_expired,
                store.inbound.purge_expired,
                partial(forget_expired_console, store),
            ],
        )
        self.service_actors = ServiceActors(
            store.budgets, self.routes.route, self.recovery.release_soon,
            on_notice=self.team_mail.post,
        )  # fmt: skip
        self.scanner = self._scanner()
        # API keys' last use, remembered per request and written once a minute at most.
        self.key_usage = KeyUsage()
        self._nursery: trio.Nursery | None = None

    def _scanner(self) -> Scanner | None:
        """The virus scanner (issue 25), if there is one to talk to; says so either way."""
        s = self.settings
        address = s.clamd_address or (DEBIAN_CLAMD_SOCKET if os.path.exists(DEBIAN_CLAMD_SOCKET)
                                       else "")  # fmt: skip
        if not address:
            if s.files_without_scan:
                log.warning(
                    "no virus scanner: files are sent UNSCANNED (NOTIFY_FILES_WITHOUT_SCAN)"
                )
            else:
                log.warning(
                    "no virus scanner (NOTIFY_CLAMD_ADDRESS unset, no clamd socket at %s):"
                    " notifications with files are refused",
                    DEBIAN_CLAMD_SOCKET,
                )
            return None
        client = ClamdClient(
            address,
            timeout=s.clamd_timeout_seconds,
            concurrency=s.clamd_concurrency,
            max_bytes=s.clamd_stream_max_bytes,
        )
        log.info("files are virus scanned", extra={"clamd": repr(client)})
        return Scanner(self.store, client, self.owner, self.requeue, self.callbacks.on_changes,
                       concurrency=s.clamd_concurrency, queue_bytes=s.scan_queue_bytes,
                       give_up_after=s.scan_give_up_hours * 3600)  # fmt: skip

    @property
    def worker_id(self) -> uuid.UUID:
        """The current registration's id (a new one if the registration was lost)."""
        return self.ownership.owner

    def owner(self) -> uuid.UUID:
        return self.ownership.owner

    @property
    def providers(self) -> dict[str, ProviderActor]:
        return self.routes.providers

    # -- startup ---------------------------------------------------------------------
    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        if self.settings.files_bucket:
            from engine.providers import aws  # botocore: only when used
            from engine.providers.object_store import open_objects

            opener = partial(open_objects, self.settings)
            self.store.documents.objects = await nursery.start(aws.serve, opener)
        self.service_actors.start(nursery)
        await self.team_mail.ensure()
        await nursery.start(partial(supervise, "team-mail", self.team_mail.run))
        self.receipts = ReceiptsActor(
            self.store, self.callbacks.on_changes, self.callbacks.on_complaints
        )
        await nursery.start(partial(supervise, "receipts", self.receipts.run))
        s = self.settings
        if s.receipts_sqs_queue_url:
            from engine.actors.sqs_poller import SqsPoller  # botocore: only when used

            poller = SqsPoller(s, self.receipts.submit)
            await nursery.start(partial(supervise, "sqs-poller", poller.run))
        await self.routes.start(nursery, self.receipts.send_channel)
        await self.recovery.register()
        await nursery.start(partial(supervise, "ownership", self.ownership.run))
        await nursery.start(partial(supervise, "recovery", self.recovery.run))
        await nursery.start(partial(supervise, "callbacks", self.callbacks.run))
        if self.scanner is not None:
            await nursery.start(partial(supervise, "scanner", self.scanner.run))
        if self.store.changes is not None:
            # Every process's admin changes, heard within a second (engine.store.changes).
            listen = partial(self.store.changes.run, self.service_changed, self.services_reset)
            await nursery.start(partial(supervise, "service-changes", listen))
        await nursery.start(
            partial(supervise, "key-usage", partial(self.key_usage.run, self.store.keys))
        )
        await nursery.start(watch_loop_lag)
        await nursery.start(gc_policy.watch_pauses)

    def api_deps(self) -> ApiDeps:
        """What the API uses of this engine (``engine.api.deps``); call once started."""
        assert self._nursery is not None, "Engine.start has not run"
        return ApiDeps(
            settings=ApiSettings.of(self.settings),
            store=self.store,
            registry=self.registry,
            template_cache=self.template_cache,
            service_actors=self.service_actors,
            owner=self.owner,
            start_soon=self._nursery.start_soon,
            on_changes=self.callbacks.on_changes,
            wake_recovery=self.recovery.wake,
            service_changed=self.service_changed,
            seal=self.box.seal,
            callbacks=self.callbacks,
            receipts=self.receipts,
            readiness_problems=self.readiness_problems,
            readiness_warnings=self.readiness_warnings,
            scanner=self.scanner,
            key_usage=self.key_usage,
        )

    def service_changed(self, service_id: uuid.UUID) -> None:
        self.registry.invalidate(service_id)
        self.service_actors.service_changed(service_id)

    def services_reset(self) -> None:
        """Any service may have changed (changes may have been missed): forget them all."""
        self.registry.invalidate_all()
        self.service_actors.all_changed()

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
                        service_id=row["service_id"],
                    )
                )
                continue
            message = stored_outbound(
                row,
                self.template_cache.compiled(template, bundle, stored_language(row)),
                from_address(bundle.service, self.settings.notify_email_domain),
                attached.get(row["id"], ()),
                frame=email_frame(bundle, self.asset_base),
                lang=bundle.service.default_language,
            )
            actor = await self.service_actors.get(bundle)
            if actor.enqueue_nowait(message):
                queued += 1
            else:
                self.recovery.release_soon(row["id"])
        if failed:
            await self.callbacks.on_changes(await self.store.update_statuses(failed))
        return queued

    def readiness_warnings(self) -> list[str]:
        problem = self.scanner.problem() if self.scanner is not None else None
        return [problem] if problem else []

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
    opening = Store.open(
        dsn,
        pool_size=settings.db_pool_size,
        keyed_pool_size=settings.db_keyed_pool_size,
        batch_rows=settings.store_batch_rows,
        status_linger_ms=settings.store_status_linger_ms,
        linger_ms=settings.store_linger_ms,
        writers=settings.store_writers,
        data_keys=DataKeys.from_settings(settings.secret_key, settings.data_keys),
        replica_dsn=settings.database_replica_url,
        replica_pool_size=settings.db_replica_pool_size,
    )
    async with AsyncExitStack() as stack:
        try:
            store = await stack.enter_async_context(opening)
        except Exception as exc:
            if is_unavailability(exc):
                raise database_error(dsn, exc) from None
            raise
        applied = await store.migrate()
        if applied:
            log.info("migrations applied", extra={"versions": applied})
        await check_secret_key(store, box)
        async with trio.open_nursery() as store_nursery:
            await store_nursery.start(store.run)
            engine = Engine(settings, store, box)
            try:
                try:
                    async with trio.open_nursery() as actors:
                        await engine.start(actors)
                        try:
                            yield engine
                        finally:
                            actors.cancel_scope.cancel()
                finally:
                    # Only once every actor has stopped (``Recovery.shutdown``).
                    await engine.recovery.shutdown()
                    with trio.CancelScope(shield=True), trio.move_on_after(2):
                        try:
                            await engine.key_usage.flush(store.keys)
                        except Exception:
                            log.warning("api key last-used times not written at shutdown")
            finally:
                with trio.CancelScope(shield=True):
                    await store.close()


async def check_secret_key(store: Store, box: SecretBox) -> None:
    """Refuse to serve with a NOTIFY_SECRET_KEY that does not open the API keys already in
    the database: every key would be refused (401). The usual cause is a second node
    started without the first one's key, which then generated its own."""
    sealed = await store.keys.any_sealed_secret()
    if sealed is None:
        return
    try:
        box.open(sealed)
    except ValueError:
        raise StartupError(
            "NOTIFY_SECRET_KEY does not open the API keys stored in this database: every"
            " node of a deployment needs the same key; set NOTIFY_SECRET_KEY to the first"
            " node's (the secret_key file in its NOTIFY_DATA_DIR if it generated one)",
            EXIT_CONFIG,
        ) from None


async def forget_expired_console(store: Store) -> int:
    """Housekeeping: the console's personal data past its use goes even when nobody signs
    in: expired sessions (their uploads cascade), expired CSV uploads, and invitations
    nobody accepted, a week after they expired (a sealed address each)."""
    now = utcnow()
    return (
        await store.console.end_expired(now)
        + await store.console_uploads.forget_expired(now)
        + await store.console_people.forget_expired_invitations(
            console_people.forgotten_invitations_expired_before(now)
        )
    )


async def purge_expired(store: Store) -> int:
    """Housekeeping: partitions made ahead, and notifications past their service's
    retention go, whole days first (``store.partitions``), then row by row
    (``store.retention``); counted in ``notify_retention_purged_total``."""
    _, dropped = await store.partitions.maintain()
    purged = dropped + await store.retention.purge_expired()
    if purged:
        RETENTION_PURGED.inc(purged)
        log.info("notifications past retention purged", extra={"count": purged})
    return purged

"""What the Notify API needs from the running engine: ``ApiDeps``, and nothing more.

Rules:
- Handlers receive one ``ApiDeps``, built once by the wiring (``engine.runtime``) and given
  to ``EngineApp``; they never see the engine itself, and nothing under ``engine/api``
  imports ``engine.runtime``.
- Each field names one thing the API uses: the store's queries it calls (``ApiStore``:
  typed by the store's own subject classes), the service registry, the template cache,
  the service actors (admission: ``get(bundle).admit``; ``dispatch``), the status fan-out,
  the callback controls and receipt intake (small Protocols), and the few settings it
  reads (``ApiSettings``). The real objects satisfy them structurally, so tests build the
  ASGI app on fakes through this seam (``tests/api/fakes.py``) with no database.
- The fields are read on every request: a frozen slotted dataclass, one attribute load
  each (as cheap as the engine's own attributes were).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from engine.api.key_usage import KeyUsage
from engine.domain.branding import asset_base

if TYPE_CHECKING:
    from engine.actors.scanner import ScanJob
    from engine.actors.service_actors import ServiceActors
    from engine.config import Settings
    from engine.domain.notification import NotificationRow
    from engine.providers.base import Receipt
    from engine.services import Registry, TemplateCache
    from engine.store.budgets import Budgets
    from engine.store.callbacks import Callbacks
    from engine.store.console import Console
    from engine.store.console_people import ConsolePeople
    from engine.store.console_uploads import ConsoleUploads
    from engine.store.counts import Counts
    from engine.store.documents import Documents
    from engine.store.idempotency import Answer, Idempotency
    from engine.store.inbound import Inbound
    from engine.store.jobs import Jobs
    from engine.store.keys import Keys
    from engine.store.notifications import Notifications, StatusChange
    from engine.store.reports import Reports
    from engine.store.retention import Retention
    from engine.store.services import Services
    from engine.store.templates import Templates


class ApiStore(Protocol):
    """The store as the API uses it: its query subjects and the group-committed insert."""

    @property
    def notifications(self) -> Notifications: ...
    @property
    def documents(self) -> Documents: ...
    @property
    def jobs(self) -> Jobs: ...
    @property
    def budgets(self) -> Budgets: ...
    @property
    def counts(self) -> Counts: ...
    @property
    def services(self) -> Services: ...
    @property
    def templates(self) -> Templates: ...
    @property
    def keys(self) -> Keys: ...
    @property
    def callbacks(self) -> Callbacks: ...
    @property
    def retention(self) -> Retention: ...
    @property
    def reports(self) -> Reports: ...
    @property
    def idempotency(self) -> Idempotency: ...
    @property
    def inbound(self) -> Inbound: ...
    @property
    def console(self) -> Console: ...
    @property
    def console_uploads(self) -> ConsoleUploads: ...
    @property
    def console_people(self) -> ConsolePeople: ...
    async def insert_notifications(
        self, rows: Sequence[NotificationRow], answer: Answer | None = None
    ) -> None: ...
    async def ping(self) -> bool: ...


class CallbackControl(Protocol):
    """The admin API's hold on callback delivery (``engine.actors.callbacks``)."""

    async def check_after_change(self, key: tuple[uuid.UUID, str]) -> dict[str, Any] | None: ...
    async def health_check(self, key: tuple[uuid.UUID, str]) -> dict[str, Any] | None: ...
    async def resume(self, service_id: uuid.UUID, kinds: Sequence[str]) -> list[str]: ...
    async def resume_origins(self, service_id: uuid.UUID, origins: Sequence[str]) -> list[str]: ...


class ReceiptSink(Protocol):
    """Where provider receipts posted over HTTP go (``engine.actors.receipts``)."""

    async def submit(self, receipts: Sequence[Receipt], within: float | None = None) -> None: ...


class FileScanner(Protocol):
    """Where the API hands a notification's files to be scanned (``engine.actors.scanner``)."""

    def submit(self, job: ScanJob) -> bool: ...


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The settings the API reads (``engine.config.Settings`` has the meaning of each)."""

    public_url: str = ""
    notify_email_domain: str = "notification.canada.ca"
    admin_token: str = ""
    max_body_bytes: int = 60 * 1024 * 1024
    receipts_verify_signature: bool = True
    receipts_cert_hosts: str = ""
    receipts_topic_arns: str = ""
    callback_allow_http: bool = False
    callback_allow_private: bool = False
    # Files are sent unscanned when no scanner is configured (the operator's explicit choice).
    files_without_scan: bool = False
    # The absolute base of branding images (``engine.domain.branding.asset_base``).
    asset_base: str = "http://127.0.0.1:6011/"

    @classmethod
    def of(cls, settings: Settings) -> ApiSettings:
        return cls(
            public_url=settings.public_url,
            notify_email_domain=settings.notify_email_domain,
            admin_token=settings.admin_token,
            max_body_bytes=settings.max_body_bytes,
            receipts_verify_signature=settings.receipts_verify_signature,
            receipts_cert_hosts=settings.receipts_cert_hosts,
            receipts_topic_arns=settings.receipts_topic_arns,
            callback_allow_http=settings.callback_allow_http,
            callback_allow_private=settings.callback_allow_private,
            files_without_scan=settings.files_without_scan,
            asset_base=asset_base(settings.public_url, settings.host, settings.port),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiDeps:
    settings: ApiSettings
    store: ApiStore
    registry: Registry
    template_cache: TemplateCache
    service_actors: ServiceActors
    # This process's current registration id: rows it will send itself are written owned
    # by it (recovery; it changes if the registration was lost, engine.actors.ownership).
    owner: Callable[[], uuid.UUID]
    # Run a background task (a bulk job's feeder) in the actors' nursery.
    start_soon: Callable[..., None]
    # Committed status changes (a cancel): metrics and callbacks hear of them.
    on_changes: Callable[[Sequence[StatusChange]], Awaitable[None]]
    # A job feeder gave rows back: sweep them now rather than at the next tick.
    wake_recovery: Callable[[], None]
    # An admin change to a service: forget its cached bundle, refresh its actor's limits.
    service_changed: Callable[[uuid.UUID], None]
    # Encrypt a secret (key secrets, bearer tokens) for the database.
    seal: Callable[[str], bytes]
    callbacks: CallbackControl
    receipts: ReceiptSink | None
    # Why the engine is not ready to serve (empty: ready).
    readiness_problems: Callable[[], list[str]]
    # What works but is degraded (the virus scanner down: files are held); ready still.
    readiness_warnings: Callable[[], list[str]] = list
    # Files are scanned before sending (engine.actors.scanner); None: no scanner.
    scanner: FileScanner | None = None
    # API keys' last use: noted in memory per request, written once a minute at most.
    key_usage: KeyUsage = field(default_factory=KeyUsage)

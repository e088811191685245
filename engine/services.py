"""The service registry: services, keys, templates and senders, cached in memory.

Rules:
- Auth and admission never cost a database round trip per request: a service's bundle is
  loaded once and kept until a change to the service invalidates it, and never longer
  than ``TTL`` seconds (a backstop, should a notice ever be lost unnoticed).
- Invalidations come through two callbacks, the registry's only seam for them:
  ``invalidate(service_id)`` (this process's own admin change at once; every process's
  through ``engine.store.changes``, PostgreSQL ``LISTEN/NOTIFY``, within a second) and
  ``invalidate_all()`` (the listener reconnected: notices may have been missed). Both are
  synchronous and cost a dict operation; the hot path does no work for them.
- A load that an invalidation overtook (it began before the change was heard) is handed
  to the requests that waited for it but not kept: it may predate the change.
- Concurrent requests for a service that is not cached share one load.
- Plain key secrets and bearer tokens live only here, in memory, decrypted from the
  database; they are never logged (``ApiKey.__repr__`` hides them).
- Team and safelist checks compare keyed hashes: the bundle holds the team's hashes
  (``store.services.team``), never its clear contacts.
- Templates are compiled once per version (``TemplateCache``), not once per request.
- A service's ``phone_region`` and ``time_zone`` are resolved here, once per load: its
  own setting, else the deployment's default (``Registry(phone_region=, time_zone=)``,
  from ``NOTIFY_DEFAULT_PHONE_REGION`` / ``NOTIFY_DEFAULT_TIME_ZONE``), so everything
  downstream reads one value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Container
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from engine.domain import branding as brand
from engine.domain.templates import CompiledEmailTemplate, CompiledSmsTemplate

if TYPE_CHECKING:
    from engine.crypto import SecretBox
    from engine.store.rows import Row
    from engine.store.store import Store

TTL = 10.0


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    key_type: str
    secret: str
    revoked: bool
    # GC's key permissions (``manage_templates``, ``manage_reports``): read only by the
    # endpoints that need one, never on the send path.
    permissions: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id}, name={self.name!r}, key_type={self.key_type})"


class Template(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    service_id: uuid.UUID
    name: str
    template_type: str
    subject: str | None
    content: str
    process_type: str
    version: int
    archived: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime | None
    # The French version (issue 22: language-aware sending); None: one version only.
    subject_fr: str | None = None
    content_fr: str | None = None
    # GC's template category (issue 24, engine.domain.template_categories); None: none.
    template_category_id: uuid.UUID | None = None

    @property
    def has_french(self) -> bool:
        return self.content_fr is not None


class Service(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    email_from: str
    sending_domain: str | None
    restricted: bool
    active: bool
    suspended: bool
    rate_limit: int
    email_daily_limit: int
    sms_daily_limit: int
    email_annual_limit: int
    sms_annual_limit: int
    prefix_sms: bool
    international_sms: bool
    callback_language: str = "en"  # of status_description in callbacks (issue 22)
    # Issue 22, resolved by the registry: the service's own, else the deployment's default.
    phone_region: str = "CA"  # local numbers without "+" are read in it
    time_zone: str = "UTC"  # its local day (daily limits) and naive scheduled_for
    # Email branding and the language of sends that name none (issue 22, migration 0018).
    email_branding: str = "none"
    default_branding_is_french: bool = False
    brand_name: str | None = None
    brand_colour: str | None = None
    brand_logo: str | None = None  # the uploaded logo's digest
    default_language: str = "en"
    # Hosts a send's own callback_url may name (issue 23, migration 0012); lower case.
    callback_hosts: frozenset[str] = frozenset()
    # Issue 24: the number it receives texts on; only such a service has opt-outs.
    inbound_number: str | None = None

    @property
    def branding(self) -> brand.Branding:
        logo = f"logos/{self.id}/{self.brand_logo}" if self.brand_logo else None
        return brand.Branding(
            self.email_branding,
            self.default_branding_is_french,
            self.brand_name,
            self.brand_colour,
            logo,
        )


class Callback(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    bearer_token: str
    signing_secret: str | None
    suspended: bool
    language: str = "en"  # the service's callback_language
    # The service's callback_hosts: delivery checks a per-send URL against them again.
    hosts: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"Callback(url={self.url!r}, suspended={self.suspended})"


class ServiceBundle(msgspec.Struct, kw_only=True):
    service: Service
    keys: list[ApiKey]
    templates: dict[uuid.UUID, Template]
    reply_tos: dict[uuid.UUID, str]
    default_reply_to: str | None
    sms_senders: dict[uuid.UUID, str]
    default_sms_sender: str | None
    # The team's contacts as keyed hashes (``engine.crypto.HashedRecipients``): ``recipient
    # in team_emails`` compares hashes; no clear contact is kept in memory.
    team_emails: Container[str]
    team_phones: Container[str]
    callbacks: dict[str, Callback]
    loaded_at: float


class _Load:
    """One load of a bundle that concurrent requests share."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.finished = False
        self.result: ServiceBundle | None = None


class Registry:
    def __init__(
        self, store: Store, box: SecretBox, *, phone_region: str = "CA", time_zone: str = "UTC"
    ) -> None:
        self._store = store
        self._box = box
        self._phone_region = phone_region
        self._time_zone = time_zone
        self._bundles: dict[uuid.UUID, ServiceBundle | None] = {}
        self._loading: dict[uuid.UUID, _Load] = {}
        self._versions: dict[tuple[uuid.UUID, int], Template] = {}
        self._missing_at: dict[uuid.UUID, float] = {}
        # Bumped by every invalidation: a load kept only if none happened while it ran.
        self._generation = 0

    def invalidate(self, service_id: uuid.UUID) -> None:
        self._generation += 1
        self._bundles.pop(service_id, None)

    def invalidate_all(self) -> None:
        """Every service may have changed (template versions never do: they stay)."""
        self._generation += 1
        self._bundles.clear()

    async def get(self, service_id: uuid.UUID) -> ServiceBundle | None:
        """The service's bundle, or None for an unknown service (remembered for 1 s)."""
        now = trio.current_time()
        if service_id in self._bundles:
            bundle = self._bundles[service_id]
            if bundle is not None and now - bundle.loaded_at < TTL:
                return bundle
            if bundle is None and now - self._missing_at.get(service_id, 0.0) < 1.0:
                return None
        waiting = self._loading.get(service_id)
        if waiting is not None:
            await waiting.done.wait()
            return waiting.result if waiting.finished else self._bundles.get(service_id)
        load = self._loading[service_id] = _Load()
        generation = self._generation
        try:
            loaded = await self._load(service_id)
            load.result, load.finished = loaded, True
            if self._generation == generation:
                self._bundles[service_id] = loaded
                if loaded is None:
                    self._missing_at[service_id] = trio.current_time()
            return loaded
        finally:
            del self._loading[service_id]
            load.done.set()

    async def template_version(self, template_id: uuid.UUID, version: int) -> Template | None:
        key = (template_id, version)
        cached = self._versions.get(key)
        if cached is not None:
            return cached
        row = await self._store.templates.version(template_id, version)
        if row is None:
            return None
        template = Template(**dict(row))
        self._versions[key] = template
        return template

    async def _load(self, service_id: uuid.UUID) -> ServiceBundle | None:
        store = self._store
        row = await store.services.settings(service_id)
        if row is None:
            return None
        keys = [
            ApiKey(
                id=r["id"],
                name=r["name"],
                key_type=r["key_type"],
                secret=self._box.open(r["secret_sealed"]),
                revoked=r["expiry_date"] is not None,
                permissions=tuple(r["permissions"] or ()),
            )
            for r in await store.keys.for_service(service_id)
        ]
        templates = {
            r["id"]: Template(**dict(r)) for r in await store.templates.for_service(service_id)
        }
        reply_rows = await store.services.reply_to_addresses(service_id)
        sender_rows = await store.services.sms_senders(service_id)
        team_emails, team_phones = await store.services.team(service_id)
        fields = dict(row)
        fields["phone_region"] = fields.get("phone_region") or self._phone_region
        fields["time_zone"] = fields.get("time_zone") or self._time_zone
        fields["callback_hosts"] = frozenset(fields.get("callback_hosts") or ())
        service = Service(**fields)
        callbacks = {
            r["callback_type"]: Callback(
                url=r["url"],
                bearer_token=self._box.open(r["bearer_sealed"]),
                signing_secret=(
                    self._box.open(r["signing_sealed"]) if r["signing_sealed"] else None
                ),
                suspended=r["suspended_at"] is not None,
                language=service.callback_language,
                hosts=service.callback_hosts,
            )
            for r in await store.callbacks.for_service(service_id)
        }
        return ServiceBundle(
            service=service,
            keys=keys,
            templates=templates,
            reply_tos={r["id"]: r["email_address"] for r in reply_rows},
            default_reply_to=_default(reply_rows, "email_address"),
            sms_senders={r["id"]: r["sms_sender"] for r in sender_rows},
            default_sms_sender=_default(sender_rows, "sms_sender"),
            team_emails=team_emails,
            team_phones=team_phones,
            callbacks=callbacks,
            loaded_at=trio.current_time(),
        )


def _default(rows: list[Row], column: str) -> str | None:
    """The row marked default, else the oldest one, else None."""
    for r in rows:
        if r["is_default"]:
            return str(r[column])
    return str(rows[0][column]) if rows else None


class TemplateCache:
    """Compiled templates, kept for the life of the process: a template version never
    changes once saved, so ``(id, version, SMS prefix, language version)`` names one
    compiled form."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[uuid.UUID, int, str | None, bool], Any] = {}

    def compiled(
        self, template: Template, bundle: ServiceBundle, version: str | None = None
    ) -> Any:
        """``version`` "fr": the template's French version (if it has one)."""
        prefix = (
            bundle.service.name
            if template.template_type == "sms" and bundle.service.prefix_sms
            else None
        )
        french = version == "fr" and template.content_fr is not None
        key = (template.id, template.version, prefix, french)
        compiled = self._compiled.get(key)
        if compiled is None:
            content = template.content_fr if french else template.content
            assert content is not None
            subject = (template.subject_fr or template.subject) if french else template.subject
            if template.template_type == "email":
                compiled = CompiledEmailTemplate(subject or "", content)
            else:
                compiled = CompiledSmsTemplate(content, prefix=prefix)
            self._compiled[key] = compiled
        return compiled


def email_frame(bundle: ServiceBundle, base: str) -> brand.Frame:
    """The service's branding around its emails, images under ``base``."""
    return brand.frame(bundle.service.branding, base)

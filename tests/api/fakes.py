"""The API in process, on a fake store: no sockets, no PostgreSQL.

``InProcessApi`` builds ``EngineApp`` through its seam (``engine.api.deps.ApiDeps``) with:
- ``FakeStore``: plain objects answering the store methods the API and the registry call,
  from dict rows (the shape asyncpg records have for the code that reads them);
- the real ``Registry`` (on the fake store), ``TemplateCache`` and ``ServiceActors`` (its
  counts from the fake store, its actors run in the test's nursery and route to a list);
and drives it with ASGI messages (``request``). Nothing in ``engine`` is patched.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
import uuid
from collections.abc import Sequence
from typing import Any

import jwt
import msgspec
import trio

from engine.actors.service_actors import ServiceActors
from engine.api.app import EngineApp
from engine.api.deps import ApiDeps, ApiSettings
from engine.crypto import DataKeys, HashedRecipients, SecretBox
from engine.domain.leases import LeaseGrant, LeaseRequest, is_rate
from engine.domain.notification import NotificationRow, Outbound
from engine.services import Registry, TemplateCache
from engine.store.budgets import seed
from engine.store.counts import SentCounts
from engine.store.errors import DatabaseUnavailable
from engine.store.notifications import StatusChange
from tests.actors.fakes import MemoryBudgets

Row = dict[str, Any]
BOX = SecretBox("in-process-secret-key-0123456789")
DATA_KEYS = DataKeys(["in-process-data-key-0123456789"])
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class FakeServices:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Row] = {}
        self.reply_tos: dict[uuid.UUID, list[Row]] = {}
        self.senders: dict[uuid.UUID, list[Row]] = {}
        self.members: dict[uuid.UUID, list[Row]] = {}

    async def settings(self, service_id: uuid.UUID) -> Row | None:
        return self.rows.get(service_id)

    async def exists(self, service_id: uuid.UUID) -> bool:
        return service_id in self.rows

    async def reply_to_addresses(self, service_id: uuid.UUID) -> list[Row]:
        return self.reply_tos.get(service_id, [])

    async def sms_senders(self, service_id: uuid.UUID) -> list[Row]:
        return self.senders.get(service_id, [])

    async def team_members(self, service_id: uuid.UUID) -> list[Row]:
        return self.members.get(service_id, [])

    async def team(self, service_id: uuid.UUID) -> tuple[HashedRecipients, HashedRecipients]:
        """As the store gives them: keyed hashes only."""
        rows = self.members.get(service_id, [])
        hashed = [
            [DATA_KEYS.recipient_hash(r[c]) for r in rows if r.get(c)]
            for c in ("email_address", "mobile_number")
        ]
        return HashedRecipients(hashed[0], DATA_KEYS), HashedRecipients(hashed[1], DATA_KEYS)


class FakeKeys:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    async def for_service(self, service_id: uuid.UUID) -> list[Row]:
        return [r for r in self.rows if r["service_id"] == service_id]


class FakeTemplates:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    async def for_service(self, service_id: uuid.UUID) -> list[Row]:
        return [r for r in self.rows if r["service_id"] == service_id]

    async def version(self, template_id: uuid.UUID, version: int) -> Row | None:
        if not -(2**31) <= version < 2**31:  # as asyncpg refuses an int4 argument
            raise OverflowError(f"value out of int32 range: {version}")
        found = [r for r in self.rows if r["id"] == template_id and r["version"] == version]
        return found[0] if found else None


class FakeCallbacks:
    async def for_service(self, service_id: uuid.UUID) -> list[Row]:
        return []


class FakeNotifications:
    """Rows by id. ``cancel`` follows the store's rule: a scheduled, unclaimed ``created``
    row of the service becomes ``cancelled``."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Row] = {}
        self.pages: list[dict[str, Any]] = []

    async def get(self, service_id: uuid.UUID, notification_id: uuid.UUID) -> Row | None:
        row = self.rows.get(notification_id)
        return row if row is not None and row["service_id"] == service_id else None

    async def page(self, service_id: uuid.UUID, key_type: str, **filters: Any) -> list[Row]:
        self.pages.append(filters)
        return []

    async def cancel(self, service_id: uuid.UUID, notification_id: uuid.UUID) -> Row | None:
        row = await self.get(service_id, notification_id)
        if row is None or row["status"] != "created" or row["scheduled_for"] is None:
            return None
        row["status"] = "cancelled"
        return row

    async def schedule_of(self, service_id: uuid.UUID, notification_id: uuid.UUID) -> Row | None:
        return await self.get(service_id, notification_id)


class FakeJobs:
    def __init__(self) -> None:
        self.inserted: list[uuid.UUID] = []

    async def insert(self, job_id: uuid.UUID, service_id: uuid.UUID, **fields: Any) -> None:
        self.inserted.append(job_id)

    async def mark_finished(self, job_id: uuid.UUID) -> bool:
        return True

    async def mark_sendable(self, job_id: uuid.UUID, *, scheduled: bool) -> None:
        return None

    async def discard(self, job_id: uuid.UUID) -> None:
        self.inserted.remove(job_id)


class FakeDocuments:
    async def get_link(self, document_id: uuid.UUID) -> Row | None:
        return None


class FakeCounts:
    """What each service has sent already (``ServiceActors`` loads it on first use)."""

    def __init__(self) -> None:
        self.sent_by: dict[uuid.UUID, list[SentCounts]] = {}

    async def sent(
        self, service_id: uuid.UUID, *, day_start: dt.datetime, year_start: dt.datetime
    ) -> list[SentCounts]:
        return self.sent_by.get(service_id, [])


class FakeBudgets(MemoryBudgets):
    """The budgets, in memory; a quota's first lease seeds it from ``counts.sent_by`` as
    the store seeds a new row from the stored notifications."""

    def __init__(self, counts: FakeCounts) -> None:
        super().__init__()
        self._counts = counts

    async def lease(
        self,
        service_id: uuid.UUID,
        requests: Sequence[LeaseRequest],
        *,
        today: dt.date,
        time_zone: str = "UTC",
    ) -> list[LeaseGrant]:
        for r in requests:
            key = (service_id, r.kind, r.window)
            if not is_rate(r.kind) and key not in self.used:
                self.used[key] = seed(r.kind, self._counts.sent_by.get(service_id, []))
        return await super().lease(service_id, requests, today=today, time_zone=time_zone)


def holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


class FakeStore:
    """``fail_inserts``: the next inserts raise an unexpected error (a bug: 500);
    ``down``: the database cannot be reached (inserts raise ``DatabaseUnavailable``, ping
    answers False), as the real store reports an outage."""

    def __init__(self) -> None:
        self.services = FakeServices()
        self.keys = FakeKeys()
        self.templates = FakeTemplates()
        self.callbacks = FakeCallbacks()
        self.notifications = FakeNotifications()
        self.jobs = FakeJobs()
        self.documents = FakeDocuments()
        self.counts = FakeCounts()
        self.budgets = FakeBudgets(self.counts)
        self.inserted: list[NotificationRow] = []
        self.fail_inserts = 0
        self.down = False

    async def insert_notifications(self, rows: Sequence[NotificationRow]) -> None:
        await trio.lowlevel.checkpoint()
        if self.down:
            raise DatabaseUnavailable("database unavailable: ConnectionRefusedError")
        if self.fail_inserts:
            self.fail_inserts -= 1
            raise OSError("database went away")
        if any(holds_nul(msgspec.to_builtins(row)) for row in rows):
            # PostgreSQL's text and jsonb cannot hold U+0000 (SQLSTATE 22P05 / 22021).
            raise ValueError("unsupported Unicode escape sequence: \\u0000")
        self.inserted.extend(rows)

    async def ping(self) -> bool:
        return not self.down


class NoCallbacks:
    async def check_after_change(self, key: tuple[uuid.UUID, str]) -> None:
        return None

    async def health_check(self, key: tuple[uuid.UUID, str]) -> None:
        return None

    async def resume(self, service_id: uuid.UUID, kinds: Sequence[str]) -> list[str]:
        return []

    async def resume_origins(self, service_id: uuid.UUID, origins: Sequence[str]) -> list[str]:
        return []


class Service:
    """A service added to the fake store: its id, keys (``key(kind)``) and templates."""

    def __init__(self, service_id: uuid.UUID) -> None:
        self.id = service_id
        self.secrets: dict[str, str] = {}
        self.templates: dict[str, uuid.UUID] = {}

    def key(self, kind: str = "normal") -> str:
        """The key as admin hands it out: ``<name>-<service id>-<secret>``."""
        return f"{kind}_key-{self.id}-{self.secrets[kind]}"

    def bearer(
        self, kind: str = "normal", *, secret: str | None = None, iat_offset: float = 0.0
    ) -> dict[str, str]:
        claims = {"iss": str(self.id), "iat": int(time.time() + iat_offset)}
        token = jwt.encode(claims, secret or self.secrets[kind], algorithm="HS256")
        return {"Authorization": f"Bearer {token}"}


ADMIN_TOKEN = "admin-token-for-in-process-tests"


class Answer(msgspec.Struct):
    status: int
    body: Any
    headers: dict[str, str] = {}


class InProcessApi:
    """The ASGI app on a fake store. Start it in a nursery (``start``) before requests:
    service actors run there. ``routed``: messages the actors handed to providers;
    ``routed_one`` is set at the first; ``released``: notifications a full lane gave back
    to recovery; ``changes``: status changes the API reported (cancels)."""

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.registry = Registry(self.store, BOX)  # type: ignore[arg-type]  # the fake store
        self.routed: list[Outbound] = []
        self.routed_one = trio.Event()
        self.released: list[uuid.UUID] = []
        self.changes: list[StatusChange] = []
        self.service_actors = ServiceActors(self.store.budgets, self._route, self.released.append)
        self.background: list[Any] = []
        self.deps: ApiDeps | None = None
        self.app: EngineApp | None = None

    async def _route(self, message: Outbound) -> None:
        self.routed.append(message)
        self.routed_one.set()

    async def _on_changes(self, changes: Sequence[StatusChange]) -> None:
        self.changes.extend(changes)

    def start(self, nursery: trio.Nursery) -> InProcessApi:
        self.service_actors.start(nursery)
        self.deps = ApiDeps(
            settings=ApiSettings(public_url="https://api.example/", admin_token=ADMIN_TOKEN),
            store=self.store,  # type: ignore[arg-type]  # the fake store
            registry=self.registry,
            template_cache=TemplateCache(),
            service_actors=self.service_actors,
            owner=functools.partial(next, itertools.repeat(uuid.uuid4())),
            start_soon=lambda fn, *args: self.background.append((fn, args)),
            on_changes=self._on_changes,
            wake_recovery=lambda: None,
            service_changed=self.registry.invalidate,
            seal=BOX.seal,
            callbacks=NoCallbacks(),
            receipts=None,
            readiness_problems=list,
        )
        self.app = EngineApp(self.deps)
        return self

    def add_service(self, **fields: Any) -> Service:
        """A live service with an email and an SMS template and a key of each type."""
        service = Service(uuid.uuid4())
        row: Row = {
            "id": service.id, "name": "Test service", "email_from": "test.service",
            "sending_domain": None, "restricted": False, "active": True, "suspended": False,
            "rate_limit": 1000, "email_daily_limit": 10_000, "sms_daily_limit": 1000,
            "email_annual_limit": 10_000_000, "sms_annual_limit": 25_000,
            "prefix_sms": False, "international_sms": False,
        }  # fmt: skip
        row.update(fields)
        self.store.services.rows[service.id] = row
        for kind in ("normal", "team", "test"):
            self.add_key(service, kind)
        self.add_template(service, "email", "email", "Dear ((name)),\n\nYour code is ((code)).",
                          subject="Hello ((name))")  # fmt: skip
        self.add_template(service, "sms", "sms", "Code: ((code))")
        return service

    def add_key(self, service: Service, kind: str, *, revoked: bool = False) -> str:
        secret = str(uuid.uuid4())
        self.store.keys.rows.append(
            {"id": uuid.uuid4(), "service_id": service.id, "name": f"{kind} key",
             "key_type": kind, "secret_sealed": BOX.seal(secret),
             "expiry_date": NOW if revoked else None, "permissions": []}
        )  # fmt: skip
        self.registry.invalidate(service.id)
        if not revoked:
            service.secrets[kind] = secret
        return f"{kind}_key-{service.id}-{secret}"

    def add_template(
        self,
        service: Service,
        name: str,
        template_type: str,
        content: str,
        *,
        subject: str | None = None,
        archived: bool = False,
    ) -> uuid.UUID:
        template_id = uuid.uuid4()
        self.store.templates.rows.append(
            {"id": template_id, "service_id": service.id, "name": name,
             "template_type": template_type, "subject": subject, "content": content,
             "process_type": "normal", "version": 1, "archived": archived,
             "created_by": "test", "created_at": NOW, "updated_at": None}
        )  # fmt: skip
        self.registry.invalidate(service.id)
        service.templates[name] = template_id
        return template_id

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request through the ASGI app, answered in process."""
        assert self.app is not None, "start the InProcessApi in a nursery first"
        path, _, query = path.partition("?")
        body = content if content is not None else b""
        sent_headers = dict(headers or {})
        if json is not None:
            body = msgspec.json.encode(json)
            sent_headers.setdefault("Content-Type", "application/json")
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in sent_headers.items()],
            "server": ("testserver", 80),
        }
        incoming = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        assert sent[0]["type"] == "http.response.start"
        raw = b"".join(m.get("body", b"") for m in sent[1:])
        headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", ())}
        return Answer(sent[0]["status"], msgspec.json.decode(raw) if raw else None, headers)

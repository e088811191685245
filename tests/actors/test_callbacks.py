"""Callback delivery against a real HTTP receiver on loopback, with a real PostgreSQL.

The receiver is the engine's own trio + httptools server running a recording ASGI app; each
service gets its own path, and the test tells a path to answer 500/429/400 or to be slow.
Time is the real clock (real sockets), bounded by ``trio.fail_after``; the retry schedule
is shortened through the manager's configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, cast

import msgspec
import pytest
import trio
from prometheus_client import REGISTRY

from engine.actors.callbacks import CallbackManager
from engine.actors.ownership import Ownership
from engine.crypto import SecretBox
from engine.domain import statuses as st
from engine.domain.callbacks import Owed
from engine.domain.timestamps import utcnow
from engine.http1.server import ServerLimits, serve
from engine.providers.base import Receipt
from engine.services import Registry
from engine.store.callbacks import Callbacks
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql
from tests.api.test_slice import jwt_header
from tests.conftest import RunningEngine, reset_database, test_settings
from tests.store.test_store import make_row

BOX = SecretBox("test-secret-key-0123456789abcdef")
TOKEN = "bearer-token-0123456789"


class Hit(msgspec.Struct):
    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]
    at: float
    answered: int


class Receiver:
    """Records every request; ``answers[path]`` is (status, delay) or a callable of the body."""

    def __init__(self) -> None:
        self.port = 0
        self.hits: list[Hit] = []
        self.answers: dict[str, tuple[int, float] | Callable[[dict[str, Any]], int]] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ok(self, path: str) -> list[dict[str, Any]]:
        return [h.body for h in self.hits if h.path == path and h.answered == 200]

    def of(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        at = trio.current_time()
        body = json.loads(raw)
        answer = self.answers.get(scope["path"], (200, 0.0))
        status, delay = (answer(body), 0.0) if callable(answer) else answer
        if delay:
            await trio.sleep(delay)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.hits.append(Hit(scope["path"], headers, raw, body, at, status))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with trio.open_nursery() as nursery:
        shutdown = trio.Event()
        rec.port = await nursery.start(
            partial(
                serve,
                rec.app,
                host="127.0.0.1",
                port=0,
                shutdown=shutdown,
                limits=ServerLimits(drain_seconds=1.0),
            )
        )
        yield rec
        shutdown.set()


async def add_service(
    store: Store, url: str, *, kind: str = "delivery_status", signing: str | None = None
) -> uuid.UUID:
    service_id = uuid.uuid4()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'cb', 'cb')", service_id
    )
    await sql.execute(
        store,
        "INSERT INTO service_callbacks (service_id, callback_type, url, bearer_sealed,"
        " signing_sealed) VALUES ($1, $2, $3, $4, $5)",
        service_id,
        kind,
        url,
        BOX.seal(TOKEN),
        BOX.seal(signing) if signing else None,
    )
    return service_id


async def notify(
    store: Store, service_id: uuid.UUID, count: int, *statuses: str, **row: Any
) -> list[uuid.UUID]:
    """Insert ``count`` notifications, then move them through ``statuses`` (one batch each)."""
    rows = [make_row(service_id=service_id, **row) for _ in range(count)]
    await store.insert_notifications(rows)
    for status in (st.SENDING, *statuses):
        await store.update_statuses(
            [StatusUpdate(id=r.id, status=status, at=utcnow()) for r in rows]
        )
    return [r.id for r in rows]


async def registered(store: Store) -> Ownership:
    """A registration of this test's process (claims record it; its lease is valid for
    ``2/3`` of the default 30 s dead-after, longer than any test here)."""
    ownership = Ownership(store.recovery)
    await ownership.register()
    return ownership


@pytest.fixture
async def manager_factory(
    store: Store,
) -> AsyncIterator[Callable[..., Any]]:
    """Start managers in a nursery; ``stop(m)`` cancels one as a shutdown would."""
    async with trio.open_nursery() as nursery:
        scopes: dict[int, trio.CancelScope] = {}

        async def start(**kw: Any) -> CallbackManager:
            options: dict[str, Any] = {"retry_seconds": 0.3, "poll": 0.05, "probe_every": 60.0,
                                       "allow_http": True, "allow_private": True}  # fmt: skip
            options.update(kw)
            m = CallbackManager(store, Registry(store, BOX), await registered(store), **options)
            scope = trio.CancelScope()

            async def run(task_status: trio.TaskStatus[None]) -> None:
                with scope:
                    await m.run(task_status=task_status)

            await nursery.start(run)
            scopes[id(m)] = scope
            return m

        start.stop = lambda m: scopes[id(m)].cancel()  # type: ignore[attr-defined]
        yield start
        nursery.cancel_scope.cancel()


async def wait_for(predicate: Callable[[], Any], seconds: float = 10.0) -> None:
    """Poll a check (plain or async) until it is true, failing after ``seconds``."""
    with trio.fail_after(seconds):
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await trio.sleep(0.02)


async def drained(store: Store) -> None:
    async def empty() -> bool:
        return await queued(store) == 0

    await wait_for(empty, 5)


async def queued(store: Store) -> int:
    return int((await sql.fetchrow(store, "SELECT count(*) AS n FROM callback_queue"))["n"])


async def test_delivered_callback_has_gc_fields_bearer_and_signature(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/a"), signing="sign-secret")
    await manager_factory()
    [nid] = await notify(store, sid, 1, st.DELIVERED, client_reference="ref-1")
    await wait_for(lambda: len(receiver.ok("/a")) == 1)
    hit = receiver.of("/a")[0]
    assert hit.headers["authorization"] == f"Bearer {TOKEN}"
    assert hit.headers["content-type"] == "application/json"
    assert set(hit.body) == {
        "id", "reference", "to", "status", "status_description", "provider_response",
        "created_at", "completed_at", "sent_at", "notification_type", "template_id",
        "template_version",
    }  # fmt: skip
    assert hit.body["id"] == str(nid)
    assert hit.body["status"] == "delivered"
    assert hit.body["status_description"] == "Delivered"
    assert hit.body["reference"] == "ref-1"
    assert hit.body["completed_at"].endswith("Z")
    timestamp = hit.headers["x-notify-timestamp"]
    mac = hmac.new(b"sign-secret", timestamp.encode() + b"." + hit.raw, hashlib.sha256)
    assert hit.headers["x-notify-signature"] == "sha256=" + mac.hexdigest()
    await drained(store)


async def test_hand_off_statuses_owe_no_callback(store: Store) -> None:
    sid = await add_service(store, "http://127.0.0.1:9/none")
    await notify(store, sid, 3)  # created -> sending only
    assert await queued(store) == 0
    no_callback = uuid.uuid4()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'x', 'x')", no_callback
    )
    await notify(store, no_callback, 3, st.DELIVERED)  # no callback configured
    assert await queued(store) == 0


async def test_later_status_never_overtakes_an_earlier_one(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    failed_once: set[str] = set()

    def answer(body: dict[str, Any]) -> int:
        # The first `pending` callback of every other notification fails: it is retried
        # 0.3 s later, and the `delivered` one must wait for it.
        if body["status"] == "pending" and body["id"] not in failed_once and hash(body["id"]) % 2:
            failed_once.add(body["id"])
            return 500
        return 200

    receiver.answers["/o"] = answer
    sid = await add_service(store, receiver.url("/o"))
    await manager_factory(concurrency=4)
    ids = await notify(store, sid, 20, st.PENDING, st.DELIVERED, notification_type="sms")
    await wait_for(lambda: len(receiver.ok("/o")) == 40)
    assert failed_once  # the retry path was exercised
    for nid in ids:
        seen = [b["status"] for b in receiver.ok("/o") if b["id"] == str(nid)]
        assert seen == ["pending", "delivered"]


async def test_retries_on_schedule_then_gives_up(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    receiver.answers["/r"] = (503, 0.0)
    receiver.answers["/t"] = (429, 0.0)
    receiver.answers["/x"] = (400, 0.0)
    retried = await add_service(store, receiver.url("/r"))
    throttled = await add_service(store, receiver.url("/t"))
    rejected = await add_service(store, receiver.url("/x"))
    await manager_factory(max_retries=3, retry_seconds=0.4)
    for sid in (retried, throttled, rejected):
        await notify(store, sid, 1, st.DELIVERED)
    await wait_for(lambda: len(receiver.of("/r")) == 4 and len(receiver.of("/t")) == 4)
    times = [h.at for h in receiver.of("/r")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.4 <= g < 1.5 for g in gaps), gaps
    await trio.sleep(1.0)  # no fifth retry, and the 400 was never retried
    assert len(receiver.of("/r")) == 4
    assert len(receiver.of("/t")) == 4
    assert len(receiver.of("/x")) == 1
    assert await queued(store) == 0  # given up: no longer owed


async def test_suspends_after_25_failures_keeps_owed_and_resumes(
    store: Store, receiver: Receiver, manager_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answers["/s"] = (500, 0.0)
    sid = await add_service(store, receiver.url("/s"))
    manager = await manager_factory(max_retries=100, retry_seconds=0.2, concurrency=2)
    gauge = "notify_callback_suspended_services"
    await wait_for(lambda: REGISTRY.get_sample_value(gauge) == 0)  # the prober's first count
    ids = await notify(store, sid, 30, st.DELIVERED)

    async def suspended() -> Any:
        return await sql.fetchrow(
            store,
            "SELECT suspended_at, suspended_reason FROM service_callbacks WHERE service_id = $1",
            sid,
        )

    async def is_suspended() -> bool:
        return (await suspended())["suspended_at"] is not None

    await wait_for(is_suspended)
    assert "25 failures within 300 s" in (await suspended())["suspended_reason"]
    assert REGISTRY.get_sample_value(gauge) == 1
    events = [r for r in caplog.records if r.getMessage() == "callbacks suspended"]
    assert [e.service_id for e in events] == [str(sid)]  # type: ignore[attr-defined]
    assert TOKEN not in caplog.text  # bearer tokens are never logged
    attempts = len(receiver.of("/s"))
    assert 25 <= attempts <= 27  # at most the requests already in flight
    await trio.sleep(0.8)
    assert len(receiver.of("/s")) == attempts  # nothing is sent while suspended
    assert await queued(store) == 30  # every callback is still owed
    receiver.answers["/s"] = (200, 0.0)
    assert await manager.resume(sid, ["delivery_status"]) == ["delivery_status"]
    assert REGISTRY.get_sample_value(gauge) == 0
    await wait_for(lambda: {b["id"] for b in receiver.ok("/s")} == {str(i) for i in ids})


async def test_probe_lifts_a_suspension_when_the_endpoint_recovers(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/p"))
    await sql.execute(
        store,
        "UPDATE service_callbacks SET suspended_at = now(), suspended_reason = 'test'"
        " WHERE service_id = $1",
        sid,
    )
    receiver.answers["/p"] = (500, 0.0)
    await manager_factory(probe_every=0.2)
    ids = await notify(store, sid, 3, st.DELIVERED)
    await wait_for(lambda: len(receiver.of("/p")) >= 2)
    assert all(h.body == {"health_check": "true"} for h in receiver.of("/p"))
    receiver.answers["/p"] = (200, 0.0)
    await wait_for(lambda: {b.get("id") for b in receiver.ok("/p")} >= {str(i) for i in ids})
    row = await sql.fetchrow(
        store, "SELECT suspended_at FROM service_callbacks WHERE service_id = $1", sid
    )
    assert row["suspended_at"] is None


async def test_nothing_owed_is_lost_across_a_restart(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    receiver.answers["/k"] = (200, 30.0)  # the first engine never gets an answer
    sid = await add_service(store, receiver.url("/k"))
    # Committed while no engine ran at all (a crash right after the status commit).
    before = await notify(store, sid, 5, st.DELIVERED)
    first = await manager_factory(concurrency=2)
    await wait_for(
        lambda: sql.fetchrow(store, "SELECT 1 FROM callback_queue WHERE owner IS NOT NULL")
    )
    manager_factory.stop(first)
    # Rows a killed worker still owns are claimed again too.
    during = await notify(store, sid, 5, st.DELIVERED)
    await sql.execute(store, "UPDATE callback_queue SET owner = $1", uuid.uuid4())
    receiver.answers["/k"] = (200, 0.0)
    await manager_factory()
    expected = {str(i) for i in before + during}
    await wait_for(lambda: {b["id"] for b in receiver.ok("/k")} >= expected)
    await drained(store)


async def test_a_slow_endpoint_does_not_delay_another_service(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    receiver.answers["/slow"] = (200, 3.0)
    slow = await add_service(store, receiver.url("/slow"))
    fast = await add_service(store, receiver.url("/fast"))
    await manager_factory(concurrency=2)
    await notify(store, slow, 20, st.DELIVERED)
    await notify(store, fast, 20, st.DELIVERED)
    start = trio.current_time()
    await wait_for(lambda: len(receiver.ok("/fast")) == 20, seconds=2.5)
    assert trio.current_time() - start < 2.5
    assert len(receiver.ok("/slow")) == 0  # still busy with its first two requests


async def test_bounded_memory_overflow_waits_in_the_database(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    receiver.answers["/b"] = (200, 0.01)
    sid = await add_service(store, receiver.url("/b"))
    manager = await manager_factory(concurrency=1, queue_size=4)
    ids = await notify(store, sid, 60, st.DELIVERED)
    peak = 0
    with trio.fail_after(20):
        while len(receiver.ok("/b")) < 60:
            peak = max(peak, sum(a.depth() for a in manager.actors.values()))
            await trio.sleep(0.005)
    assert peak <= 4
    # One lane: the whole queue went out in commit order.
    # One lane: everything went out in queue order (the trigger queues a batch by id).
    assert [b["id"] for b in receiver.ok("/b")] == sorted(str(i) for i in ids)


async def test_a_claim_takes_only_what_the_actors_have_room_for(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    # A busy endpoint and a backlog: claiming more than fits and putting the rest back
    # made PostgreSQL churn through the queue. Every row claimed must stay claimed.
    receiver.answers["/busy"] = (200, 5.0)  # holds every request past the test
    sid = await add_service(store, receiver.url("/busy"))
    manager = await manager_factory(concurrency=2, queue_size=40, poll=60.0)
    await notify(store, sid, 200, st.DELIVERED)
    claimed = 0
    for _ in range(5):
        claimed += await manager.claim()
        owned = await sql.fetchrow(
            store, "SELECT count(*) AS n FROM callback_queue WHERE owner = $1", manager.worker_id
        )
        assert owned["n"] == claimed  # none put back
        await trio.sleep(0.05)  # the two workers take a row each and wait on the endpoint
    actor = manager.actors[(sid, "delivery_status", None)]
    assert 0 < claimed <= actor.capacity + 2
    assert actor.depth() == claimed - 2


class ClaimCountingCallbacks:
    """The real callback queries, counting the claims a manager makes through them."""

    def __init__(self, callbacks: Callbacks) -> None:
        self._callbacks = callbacks
        self.claims = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._callbacks, name)

    async def claim(self, *args: Any, **kwargs: Any) -> list[Owed]:
        self.claims += 1
        return await self._callbacks.claim(*args, **kwargs)


class ClaimCountingStore:
    """The real store, counting the claim queries a manager sends through it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.callbacks = ClaimCountingCallbacks(store.callbacks)

    @property
    def claims(self) -> int:
        return self.callbacks.claims

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_full_actor_is_not_rescanned_on_every_wake_yet_new_services_are_found(
    store: Store, receiver: Receiver
) -> None:
    # With every actor full a claim can only find a service not seen yet, and PostgreSQL
    # steps over the whole backlog to look: run on every wake, that scan grew with the
    # backlog and took PostgreSQL's CPU from the rest of the pipeline.
    receiver.answers["/busy"] = (200, 5.0)  # holds every request past the test
    busy = await add_service(store, receiver.url("/busy"))
    counting = ClaimCountingStore(store)
    manager = CallbackManager(
        cast(Store, counting), Registry(store, BOX), await registered(store),
        concurrency=1, queue_size=8, poll=2.0, probe_every=60.0,
        allow_http=True, allow_private=True,
    )  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        await notify(store, busy, 100, st.DELIVERED)
        manager.wake()

        def busy_is_full() -> bool:
            actor = manager.actors.get((busy, "delivery_status", None))
            return actor is not None and not actor.ready_for_more()

        await wait_for(busy_is_full, 5)
        await trio.sleep(0.05)  # let the claim that filled it finish
        before = counting.claims
        for _ in range(20):
            manager.wake()
            await trio.sleep(0.01)
        assert counting.claims - before <= 1
        # A service seen for the first time is still found, within a poll.
        fresh = await add_service(store, receiver.url("/fresh"))
        await notify(store, fresh, 5, st.DELIVERED)
        await wait_for(lambda: len(receiver.ok("/fresh")) == 5, seconds=5)
        nursery.cancel_scope.cancel()


async def test_complaint_is_stored_and_called_back(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/c"), kind="complaint")
    manager = await manager_factory()
    row = make_row(service_id=sid, client_reference="my-ref")
    await store.insert_notifications([row])
    await store.update_statuses(
        [StatusUpdate(id=row.id, status=st.SENDING, at=utcnow(), provider_reference="ses-1")]
    )
    at = utcnow()
    receipts = [
        Receipt(reference="ses-1", status=st.DELIVERED, at=at, provider="ses", complaint=True),
        Receipt(reference="unknown", status=st.DELIVERED, at=at, provider="ses", complaint=True),
    ]
    await store.complaints.record(receipts)
    await store.complaints.record(receipts)  # redelivered: recorded and called back once
    manager.wake()
    await wait_for(lambda: len(receiver.ok("/c")) == 1)
    await drained(store)
    assert len(receiver.of("/c")) == 1
    body = receiver.ok("/c")[0]
    stored = await sql.fetchrow(
        store, "SELECT id FROM complaints WHERE notification_id = $1", row.id
    )
    assert body == {
        "notification_id": str(row.id),
        "complaint_id": str(stored["id"]),
        "reference": "my-ref",
        "to": row.recipient,
        "complaint_date": body["complaint_date"],
    }
    assert body["complaint_date"].endswith("Z")


async def test_health_check_reports_status_and_time(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    receiver.answers["/h"] = (200, 0.2)
    sid = await add_service(store, receiver.url("/h"))
    manager = await manager_factory()
    result = await manager.health_check((sid, "delivery_status"))
    assert result is not None
    assert result["status_code"] == 200
    assert 0.2 <= result["response_time"] < 2
    assert receiver.of("/h")[0].body == {"health_check": "true"}
    assert await manager.health_check((sid, "complaint")) is None


async def test_end_to_end_email_delivered_callback(
    running_engine: RunningEngine, receiver: Receiver
) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    async with running_engine.admin() as admin:
        r = await admin.put(
            f"/admin/services/{sid}/callback",
            json={"url": receiver.url("/e2e"), "bearer_token": TOKEN},
        )
        assert r.status_code == 200, r.text
        assert r.json()["health_check"]["status_code"] == 200  # sent on set-up
        r = await admin.post(f"/admin/services/{sid}/callback/test")
        assert r.status_code == 200, r.text
        assert r.json()["status_code"] == 200
        assert r.json()["response_time"] >= 0
        r = await admin.post(f"/admin/services/{sid}/callback/resume")
        assert r.status_code == 200
        assert r.json()["resumed"] == []  # nothing was suspended
    assert [h.body for h in receiver.of("/e2e")] == [{"health_check": "true"}] * 2
    sent: dict[str, str] = {}
    async with running_engine.client() as client:
        for key_type in ("test", "normal"):  # test keys get callbacks too
            r = await client.post(
                "/v2/notifications/email",
                json={
                    "email_address": "someone@example.com",
                    "template_id": setup["email_template"],
                    "personalisation": {"name": "Ada", "code": "1234"},
                    "reference": f"ref-{key_type}",
                },
                headers=jwt_header(setup["keys"][key_type]),
            )
            assert r.status_code == 201, r.text
            sent[r.json()["id"]] = key_type
    await wait_for(lambda: {b.get("id") for b in receiver.ok("/e2e")} >= set(sent))
    for hit in receiver.of("/e2e")[2:]:
        assert hit.headers["authorization"] == f"Bearer {TOKEN}"
        assert hit.body["status"] == "delivered"
        assert hit.body["reference"] == f"ref-{sent[hit.body['id']]}"
        assert hit.body["to"] == "someone@example.com"
        assert hit.body["template_id"] == setup["email_template"]
        assert hit.body["template_version"] == 1
        assert hit.body["notification_type"] == "email"
        for field in ("created_at", "sent_at", "completed_at"):
            assert hit.body[field].endswith("Z")


async def test_admin_callback_routes_need_a_configured_callback(
    running_engine: RunningEngine,
) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    async with running_engine.admin() as admin:
        for action in ("test", "resume"):
            r = await admin.post(f"/admin/services/{sid}/callback/{action}")
            assert r.status_code == 404, r.text
            assert r.json()["errors"][0]["message"] == "No callback configured"


async def test_engine_restart_delivers_what_the_last_run_owed(
    aio_loop: None, database_url: str, receiver: Receiver
) -> None:
    from engine.runtime import open_engine

    settings = test_settings(database_url, callback_retry_seconds=0.3, callback_poll_seconds=0.05)
    receiver.answers["/restart"] = (503, 0.0)
    await reset_database(database_url)
    async with open_engine(settings, BOX) as engine:
        sid = await add_service(engine.store, receiver.url("/restart"))
        ids = await notify(engine.store, sid, 5, st.DELIVERED)
        await wait_for(lambda: len(receiver.of("/restart")) >= 5)  # every one failed once
    receiver.answers["/restart"] = (200, 0.0)
    async with open_engine(settings, BOX) as engine:
        # Only this run ever got a 200: what it delivers, it found in the database.
        await wait_for(lambda: {b["id"] for b in receiver.ok("/restart")} == {str(i) for i in ids})
        await drained(engine.store)

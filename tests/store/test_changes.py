"""Service change notices (``engine.store.changes``, migration 0010): every write path of
the admin API (and the callback breaker's suspension) is heard by a listening process, a
rolled-back write is not, and a reconnection resets everything."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import pytest
import trio

from engine.domain.timestamps import utcnow
from engine.store.changes import ChangeListener
from engine.store.store import Store
from tests import sql
from tests.pg_instance import pg_instance

BOUND_S = 5.0  # generous: a notice takes milliseconds; the machine may be loaded


class Heard:
    def __init__(self) -> None:
        self.changes: list[uuid.UUID] = []
        self.resets = 0
        self.event = trio.Event()

    def on_change(self, service_id: uuid.UUID) -> None:
        self.changes.append(service_id)
        self.event.set()

    def on_reset(self) -> None:
        self.resets += 1
        self.event.set()

    async def next_change(self) -> uuid.UUID:
        with trio.fail_after(BOUND_S):
            while not self.changes:
                self.event = trio.Event()
                await self.event.wait()
        return self.changes.pop(0)


@pytest.fixture
async def heard(store: Store) -> AsyncIterator[Heard]:
    heard = Heard()
    assert store.changes is not None
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(store.changes.run, heard.on_change, heard.on_reset))
        assert heard.resets == 1  # the first LISTEN: whatever was cached may be stale
        yield heard
        nursery.cancel_scope.cancel()


async def _service(store: Store) -> uuid.UUID:
    sid = uuid.uuid4()
    await store.services.create(
        sid, name="s", email_from="s", sending_domain=None, restricted=False, rate_limit=10,
        email_daily_limit=10, sms_daily_limit=10, email_annual_limit=10, sms_annual_limit=10,
        prefix_sms=True, international_sms=False,
    )  # fmt: skip
    return sid


async def test_every_admin_write_path_is_heard(store: Store, heard: Heard) -> None:
    sid = await _service(store)
    assert await heard.next_change() == sid  # created
    key_id = uuid.uuid4()
    template_id = uuid.uuid4()
    writes: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("settings", lambda: store.services.update(sid, {"suspended": True})),
        ("rate limit", lambda: store.services.update(sid, {"rate_limit": 5})),
        ("key created", lambda: store.keys.create(
            key_id, sid, name="k", key_type="normal", secret_sealed=b"x",
            secret_digest=uuid.uuid4().bytes)),
        ("key revoked", lambda: store.keys.revoke(sid, key_id)),
        ("template", lambda: store.templates.save(
            template_id, sid, version=1, name="t", template_type="sms", subject=None,
            content="c", process_type="normal", created_by="a")),
        ("template version", lambda: store.templates.save(
            template_id, sid, version=2, name="t", template_type="sms", subject=None,
            content="d", process_type="normal", created_by="a")),
        ("reply-to", lambda: store.services.add_reply_to(
            sid, uuid.uuid4(), "a@example.com", is_default=True)),
        ("sms sender", lambda: store.services.add_sms_sender(
            sid, uuid.uuid4(), "GOVUK", is_default=True)),
        ("callback", lambda: store.callbacks.configure(
            sid, "delivery_status", url="https://x.example", bearer_sealed=b"b",
            signing_sealed=None)),
        ("callback suspended", lambda: store.callbacks.suspend(sid, "delivery_status", "r")),
        ("callback resumed", lambda: store.callbacks.resume(sid, ["delivery_status"])),
        ("team member", lambda: store.services.add_team_member(
            sid, uuid.uuid4(), email_address="t@example.com", mobile_number=None)),
    ]  # fmt: skip
    for what, write in writes:
        await write()
        assert await heard.next_change() == sid, what
        assert not heard.changes, f"{what}: one notice per transaction"


async def test_nothing_is_heard_of_a_rolled_back_or_empty_write(store: Store, heard: Heard) -> None:
    sid = await _service(store)
    assert await heard.next_change() == sid
    # A default sender is two statements in one transaction; the INSERT fails (no such
    # service), so the UPDATE of the same transaction is rolled back with it.
    with pytest.raises(Exception, match="foreign key"):
        await store.services.add_reply_to(uuid.uuid4(), uuid.uuid4(), "a@x.io", is_default=True)
    assert not await store.keys.revoke(sid, uuid.uuid4())  # changes no row
    await store.services.update(sid, {"name": "after"})  # a marker behind them
    assert await heard.next_change() == sid
    assert heard.changes == []


async def test_truncate_resets_every_service(store: Store, heard: Heard) -> None:
    await sql.execute(store, "TRUNCATE team_members")
    with trio.fail_after(BOUND_S):
        while heard.resets < 2:
            heard.event = trio.Event()
            await heard.event.wait()


async def test_after_a_database_restart_it_listens_again_and_resets(aio_loop: None) -> None:
    with pg_instance() as pg, trio.fail_after(90):
        async with Store.open(pg.dsn) as store, trio.open_nursery() as nursery:
            await store.migrate()
            heard = Heard()
            listener = ChangeListener(
                store.availability, pg.dsn, {"application_name": "notify-engine"}, check_every=0.5
            )
            await nursery.start(partial(listener.run, heard.on_change, heard.on_reset))
            assert (listener.connections, heard.resets) == (1, 1)
            await trio.to_thread.run_sync(pg.stop)
            await trio.sleep(1.0)
            await trio.to_thread.run_sync(pg.start)
            with trio.fail_after(30):
                while heard.resets < 2:
                    heard.event = trio.Event()
                    await heard.event.wait()
            assert listener.connections == 2  # notices sent meanwhile are lost: reset
            sid = await _service(store)
            assert await heard.next_change() == sid
            nursery.cancel_scope.cancel()


async def test_an_endpoints_last_outcomes_are_not_a_change(store: Store, heard: Heard) -> None:
    # Written every few seconds while callbacks flow (migration 0015): a notice for each
    # would make every process reload the service.
    sid = await _service(store)
    assert await heard.next_change() == sid
    await store.callbacks.configure(
        sid, "delivery_status", url="https://x.example", bearer_sealed=b"b", signing_sealed=None
    )
    assert await heard.next_change() == sid
    now = utcnow()
    await store.callbacks.record_outcomes([(sid, "delivery_status", now, now, "HTTP 500")])
    await store.services.update(sid, {"name": "marker"})  # a marker behind it
    assert await heard.next_change() == sid
    assert heard.changes == []

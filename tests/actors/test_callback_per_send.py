"""Per-send callback URLs (issue 23): a send's own ``callback_url`` on a host of the
service's allowlist gets that notification's delivery-status callbacks, the endpoint does
not; each origin has its own actor and breaker (a failing origin is suspended alone) and
is reaped when idle; the owed row carries the URL through a restart. Real receivers on
loopback, a real PostgreSQL."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import trio

from engine.domain import callback_urls
from engine.domain import statuses as st
from engine.store.store import Store
from tests import sql
from tests.actors.test_callbacks import (
    BOX,
    TOKEN,
    Receiver,
    add_service,
    drained,
    notify,
    wait_for,
)
from tests.api.test_admin import error_of
from tests.api.test_slice import jwt_header
from tests.conftest import RunningEngine, reset_database, test_settings


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def allow(store: Store, service_id: uuid.UUID, *hosts: str) -> None:
    await store.callbacks.set_hosts(service_id, hosts)


async def test_the_send_url_gets_the_callback_and_the_endpoint_does_not(
    running_engine: RunningEngine, receiver: Receiver
) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    own = receiver.url("/own?case=1").replace("127.0.0.1", "LocalHost")
    async with running_engine.admin() as admin:
        r = await admin.put(f"/admin/services/{sid}/callback", json={
            "url": receiver.url("/main"), "bearer_token": TOKEN, "signing_secret": "k" * 20,
        })  # fmt: skip
        assert r.status_code == 200, r.text
        r = await admin.put(f"/admin/services/{sid}/callback/hosts",
                            json={"hosts": ["LOCALHOST", "localhost"]})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["callback_hosts"] == ["localhost"]
        state = (await admin.get(f"/admin/services/{sid}/callback")).json()
        assert state["callback_hosts"] == ["localhost"]
    ids: dict[str, str] = {}
    async with running_engine.client() as client:
        for channel, extra, to in (
            ("email", {"callback_url": own}, {"email_address": "a@example.com"}),
            ("sms", {"callback_url": own}, {"phone_number": "+16135550123"}),
            ("email", {}, {"email_address": "b@example.com"}),
        ):
            r = await client.post(
                f"/v2/notifications/{channel}",
                json={**to, **extra, "template_id": setup[f"{channel}_template"],
                      "personalisation": {"name": "Ada", "code": "1"}},
                headers=jwt_header(setup["keys"]["normal"]),
            )  # fmt: skip
            assert r.status_code == 201, r.text
            ids[r.json()["id"]] = "own" if extra else "main"
    mine = {i for i, where in ids.items() if where == "own"}
    await wait_for(lambda: {b["id"] for b in receiver.ok("/own")} >= mine)
    await wait_for(lambda: {b.get("id") for b in receiver.ok("/main")} >= set(ids) - mine)
    await drained(running_engine.engine.store)
    assert {b["id"] for b in receiver.ok("/own")} == mine
    assert not mine & {b.get("id") for b in receiver.ok("/main")}
    for hit in receiver.of("/own"):
        assert hit.headers["authorization"] == f"Bearer {TOKEN}"  # the endpoint's token
        assert hit.headers["x-notify-signature"].startswith("sha256=")  # and its secret
        assert hit.headers["host"].startswith("localhost:")


async def test_a_send_url_is_refused_off_the_list_or_without_an_endpoint(
    running_engine: RunningEngine,
) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]

    async def send(url: str, **headers: str) -> Any:
        async with running_engine.client() as client:
            return await client.post("/v2/notifications/email", json={
                "email_address": "a@example.com", "template_id": setup["email_template"],
                "personalisation": {"name": "Ada", "code": "1"}, "callback_url": url,
            }, headers={**jwt_header(setup["keys"]["normal"]), **headers})  # fmt: skip

    [message] = error_of(await send("https://receiver.example/cb"), 400)
    assert message == "callback_url needs a delivery_status callback for the service"
    async with running_engine.admin() as admin:
        await admin.put(f"/admin/services/{sid}/callback",
                        json={"url": "http://127.0.0.1:9/cb", "bearer_token": TOKEN})  # fmt: skip
        await admin.put(f"/admin/services/{sid}/callback/hosts",
                        json={"hosts": ["receiver.example"]})  # fmt: skip
        for bad in ("not a host!", "a..b", "https://x.example"):
            r = await admin.put(f"/admin/services/{sid}/callback/hosts", json={"hosts": [bad]})
            [got] = error_of(r, 400)
            assert "is not a host name or IP address" in got, got
    r = await send("https://other.example/cb")
    assert r.json() == {"status_code": 400, "errors": [{
        "error": "ValidationError",
        "message": "callback_url host other.example is not in the service's callback_hosts",
    }]}  # fmt: skip
    [fr] = error_of(await send("https://other.example/cb", **{"Accept-Language": "fr-CA"}), 400)
    assert fr == (
        "l'hôte other.example de callback_url ne figure pas dans les callback_hosts du service"
    )
    for url, expected in (
        ("ftp://receiver.example/cb", "callback_url is not a valid https url"),
        ("https://u:p@receiver.example/cb", "callback_url must not contain a user name"),
        ("https://receiver.example/a b", "callback_url must not contain white space"),
        ("https://receiver.example/" + "a" * 2000, "callback_url must be at most 2000"),
    ):
        [got] = error_of(await send(url), 400)
        assert got.startswith(expected), got
    count = await sql.fetchrow(running_engine.engine.store, "SELECT count(*) FROM notifications")
    assert count[0] == 0


async def test_a_failing_send_origin_is_suspended_alone_and_resumed(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/main"))
    await allow(store, sid, "127.0.0.1", "localhost")
    dead = f"http://127.0.0.1:{closed_port()}"
    other = receiver.url("/other").replace("127.0.0.1", "localhost")
    manager = await manager_factory(outcomes_every=0.1)
    await notify(store, sid, 30, st.DELIVERED, callback_url=f"{dead}/cb")

    async def origin_suspended() -> bool:
        rows = await store.callbacks.origins(sid)
        return any(r["origin"] == dead and r["suspended_at"] is not None for r in rows)

    await wait_for(origin_suspended)
    # The endpoint and another origin of the same service still get theirs.
    main = await notify(store, sid, 3, st.DELIVERED)
    elsewhere = await notify(store, sid, 3, st.DELIVERED, callback_url=other)
    await wait_for(lambda: {b["id"] for b in receiver.ok("/main")} == {str(i) for i in main})
    await wait_for(lambda: {b["id"] for b in receiver.ok("/other")} == {str(i) for i in elsewhere})

    async def endpoint_owes_nothing() -> bool:
        [endpoint] = await store.callbacks.state(sid, ("delivery_status",))
        assert endpoint["suspended_at"] is None
        return bool(endpoint["owed"] == 0)  # the dead origin's rows are not the endpoint's

    await wait_for(endpoint_owes_nothing)
    rows = {r["origin"]: r for r in await store.callbacks.origins(sid)}
    assert rows[dead]["owed"] == 30  # waiting in the table, not lost
    assert rows[dead]["suspended_reason"].startswith("25 failures within 300 s")
    assert manager.actors[(sid, "delivery_status", dead)].suspended
    assert not manager.actors[(sid, "delivery_status", None)].suspended
    await wait_for(lambda: rows_written(store, sid, other))
    assert await manager.resume_origins(sid, [dead]) == [dead]
    assert not await origin_suspended()


async def rows_written(store: Store, sid: uuid.UUID, url: str) -> bool:
    """The origin's last success has been written (``outcomes_every``)."""
    origin = callback_urls.origin(url)
    rows = await store.callbacks.origins(sid)
    return any(r["origin"] == origin and r["last_success_at"] is not None for r in rows)


async def test_an_idle_origin_actor_is_reaped_and_the_endpoint_actor_kept(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/main"))
    await allow(store, sid, "127.0.0.1")
    manager = await manager_factory(reap_every=0.05, idle_after=0.2)
    await notify(store, sid, 2, st.DELIVERED)
    await notify(store, sid, 2, st.DELIVERED, callback_url=receiver.url("/own"))
    await wait_for(lambda: len(receiver.ok("/own")) == 2 and len(receiver.ok("/main")) == 2)
    origin = callback_urls.origin(receiver.url("/own"))
    assert (sid, "delivery_status", origin) in manager.actors
    await wait_for(lambda: (sid, "delivery_status", origin) not in manager.actors, 5)
    assert (sid, "delivery_status", None) in manager.actors
    # A new row for the origin makes a new actor.
    await notify(store, sid, 1, st.DELIVERED, callback_url=receiver.url("/own"))
    await wait_for(lambda: len(receiver.ok("/own")) == 3)


async def test_a_host_taken_off_the_list_gets_nothing_after_the_send(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/main"))
    await manager_factory()
    # Accepted while the host was listed; the list no longer has it at delivery.
    await notify(store, sid, 2, st.DELIVERED, callback_url=receiver.url("/own"))
    await drained(store)
    await trio.sleep(0.1)
    assert receiver.of("/own") == []
    assert receiver.of("/main") == []


async def test_the_owed_row_carries_the_url_through_a_restart(
    aio_loop: None, database_url: str, receiver: Receiver
) -> None:
    from engine.runtime import open_engine

    settings = test_settings(database_url, callback_retry_seconds=0.3, callback_poll_seconds=0.05)
    receiver.answers["/own"] = (503, 0.0)
    url = receiver.url("/own?n=1")
    await reset_database(database_url)
    async with open_engine(settings, BOX) as engine:
        sid = await add_service(engine.store, receiver.url("/main"))
        await allow(engine.store, sid, "127.0.0.1")
        ids = await notify(engine.store, sid, 3, st.DELIVERED, callback_url=url)
        await wait_for(lambda: len(receiver.of("/own")) >= 3)  # every one failed once
    async with open_engine(settings, BOX) as engine:
        # Still failing: what the last run owed is in the table, with its URL.
        rows = await sql.fetch(
            engine.store, "SELECT callback_url, callback_origin FROM callback_queue"
        )
        receiver.answers["/own"] = (200, 0.0)
        await wait_for(lambda: {b["id"] for b in receiver.ok("/own")} == {str(i) for i in ids})
        await drained(engine.store)
    assert receiver.of("/main") == []
    assert len(rows) == 3
    assert {(r["callback_url"], r["callback_origin"]) for r in rows} == {
        (url, callback_urls.origin(url))
    }

"""What a service team can see and do about its callbacks (issue 23): the statuses an
endpoint chose, its last success and failure, what it is owed, and a replay of a range."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.domain import statuses as st
from engine.domain.timestamps import utcnow
from engine.store.store import Store
from tests import sql
from tests.actors.test_callbacks import Receiver, add_service, drained, notify, wait_for


async def test_an_endpoint_gets_only_the_statuses_it_chose(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/failures"))
    await sql.execute(
        store,
        "UPDATE service_callbacks SET statuses = '{permanent-failure,technical-failure}'"
        " WHERE service_id = $1",
        sid,
    )
    await manager_factory()
    await notify(store, sid, 3, st.DELIVERED)
    failed = await notify(store, sid, 2, st.PERMANENT_FAILURE)
    await drained(store)
    await wait_for(lambda: len(receiver.ok("/failures")) == 2)
    assert sorted(h["id"] for h in receiver.ok("/failures")) == sorted(str(i) for i in failed)


async def test_last_success_and_failure_are_kept_for_the_team(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    receiver.answers["/broken"] = (500, 0.0)
    good = await add_service(store, receiver.url("/good"))
    broken = await add_service(store, receiver.url("/broken"))
    await manager_factory(outcomes_every=0.1, retry_seconds=60.0)
    before = utcnow()
    await notify(store, good, 2, st.DELIVERED)
    await notify(store, broken, 2, st.DELIVERED)

    # What the asserts read is written by two tasks of the manager, each on its own
    # clock: the outcome writer (last success / failure) and the bookkeeping writer (the
    # good service's deletes). Wait until both are in the table: a failure written is no
    # sign that the deletes are (under load they came later and ``owed`` read 1 or 2).
    async def written() -> bool:
        [ok] = await store.callbacks.state(good, ("delivery_status",))
        [bad] = await store.callbacks.state(broken, ("delivery_status",))
        return (
            ok["last_success_at"] is not None and ok["owed"] == 0
            and bad["last_failure_at"] is not None
        )  # fmt: skip

    await wait_for(written)
    [ok] = await store.callbacks.state(good, ("delivery_status",))
    assert ok["last_success_at"] >= before
    assert ok["last_failure_at"] is None
    assert ok["owed"] == 0
    [bad] = await store.callbacks.state(broken, ("delivery_status",))
    assert bad["last_failure"] == "HTTP 500"
    assert bad["last_success_at"] is None
    assert bad["owed"] == 2  # both wait for their retry
    assert bad["oldest_owed_at"] >= before - dt.timedelta(seconds=1)


async def test_a_replay_sends_a_range_again(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    sid = await add_service(store, receiver.url("/lost"))
    await manager_factory()
    start = utcnow()
    ids = await notify(store, sid, 4, st.DELIVERED)
    await wait_for(lambda: len(receiver.ok("/lost")) == 4)
    await drained(store)

    queued = await store.callbacks.replay(sid, start, utcnow() + dt.timedelta(seconds=1), limit=3)
    assert queued == 3  # bounded by the limit
    await wait_for(lambda: len(receiver.ok("/lost")) == 7)
    assert {h["id"] for h in receiver.ok("/lost")[4:]} <= {str(i) for i in ids}
    nothing = await store.callbacks.replay(sid, start - dt.timedelta(days=2), start, limit=10)
    assert nothing == 0  # nothing was created in that range

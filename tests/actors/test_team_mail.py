"""The engine's own mail to a service's team (issue 23): 80% and 100% of a daily limit and a
callback suspension and resumption reach the team through the normal pipeline, each once."""

from __future__ import annotations

import uuid
from typing import Any

import trio

from engine.domain import statuses as st
from engine.domain.team_mail import SYSTEM_SERVICE_ID, TEMPLATES, Notice
from engine.store.store import Store
from tests import sql
from tests.actors.test_callbacks import Receiver, add_service, notify, wait_for
from tests.api.test_slice import jwt_header
from tests.conftest import serving_engine

TEAM = "lead@department.example"


async def test_two_claims_of_one_notice_send_it_once(store: Store) -> None:
    sid = uuid.uuid4()
    results: list[bool] = []

    async def claim() -> None:
        results.append(await store.team_notices.claim(sid, "daily-limit-near", "email:x", 1))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(claim)
    assert sorted(results) == [False] * 7 + [True]


async def test_the_team_hears_of_80_and_100_percent_of_the_daily_limit_once(
    aio_loop: None, database_url: str
) -> None:
    async with serving_engine(database_url, recovery_sweep_seconds=0.3) as running:
        made = await running.create_service(email_daily_limit=10, restricted=False)
        sid, key = made["service"]["id"], made["keys"]["normal"]
        async with running.admin() as admin:
            r = await admin.post(f"/admin/services/{sid}/team-members",
                                 json={"email_address": TEAM})  # fmt: skip
            assert r.status_code == 201, r.text
        answers = []
        async with running.client() as client:
            for i in range(12):
                r = await client.post(
                    "/v2/notifications/email",
                    json={"email_address": f"p{i}@example.com",
                          "template_id": made["email_template"],
                          "personalisation": {"name": "A", "code": "1"}},
                    headers=jwt_header(key),
                )  # fmt: skip
                answers.append(r.status_code)
        assert answers == [201] * 10 + [429] * 2
        store = running.engine.store

        async def delivered_to_team() -> list[Any]:
            rows = await sql.opened(  # recipients and subjects are sealed at rest
                store,
                "SELECT id, template_id, status, subject, recipient FROM notifications"
                " WHERE service_id = $1 ORDER BY created_at",
                SYSTEM_SERVICE_ID,
            )
            return rows if len(rows) == 2 and all(r["status"] == st.DELIVERED for r in rows) else []

        await wait_for(delivered_to_team, 20)
        rows = await delivered_to_team()
        assert [r["template_id"] for r in rows] == [
            TEMPLATES["daily-limit-near"].id, TEMPLATES["daily-limit-reached"].id,
        ]  # fmt: skip
        assert {r["recipient"] for r in rows} == {TEAM}
        assert rows[1]["subject"].startswith(f"{made['service']['name']} has reached its daily")
        await trio.sleep(1.0)  # nothing more comes (each notice once)
        assert len(await sql.fetch(store, "SELECT 1 FROM notifications WHERE service_id = $1",
                                   SYSTEM_SERVICE_ID)) == 2  # fmt: skip


async def test_a_suspension_and_its_resumption_are_told_to_the_team(
    store: Store, receiver: Receiver, manager_factory: Any
) -> None:
    receiver.answers["/down"] = (500, 0.0)
    sid = await add_service(store, receiver.url("/down"))
    told: list[Notice] = []
    manager = await manager_factory(on_notice=told.append, max_retries=0)
    await notify(store, sid, 30, st.DELIVERED)
    await wait_for(lambda: told, 15)
    [suspended] = told
    assert suspended.template == "callback-suspended"
    assert suspended.service_id == sid
    assert suspended.values["url"] == receiver.url("/down")
    assert suspended.values["reason"].startswith("25 failures within 300 s (last: HTTP 500)")
    assert await manager.resume(sid, ["delivery_status"]) == ["delivery_status"]
    assert [n.template for n in told] == ["callback-suspended", "callback-resumed"]

"""Hostile input on the real API and the real database (issue 20, items 1 and 3): a
service sending NUL characters gets 400s and never hurts another service's requests
sharing its group commits; integers beyond their column and NUL query arguments are
400s, not the database's 500."""

from __future__ import annotations

from typing import Any

import trio

from tests import sql
from tests.api.test_errors import bearer, email, service
from tests.conftest import RunningEngine

NUL = "\x00"
NUL_MESSAGE = "contains a character the database cannot store (\\u0000)"


async def test_nul_from_one_service_never_fails_another(running_engine: RunningEngine) -> None:
    attacker = await service(running_engine)
    victim = await service(running_engine)
    bad_bodies: list[dict[str, Any]] = [
        email(attacker, personalisation={"name": f"A{NUL}", "code": "1"}),
        email(attacker, personalisation={f"name{NUL}": "A", "name": "A", "code": "1"}),
        email(attacker, reference=f"ref{NUL}"),
    ]
    statuses: dict[str, list[int]] = {"attacker": [], "victim": []}

    async def post(who: str, s: Any, body: dict[str, Any]) -> None:
        async with running_engine.client() as client:
            r = await client.post("/v2/notifications/email", json=body, headers=bearer(
                s["keys"]["normal"]))  # fmt: skip
            statuses[who].append(r.status_code)
            if who == "attacker" and r.status_code == 400:
                assert r.json()["errors"][0]["error"] == "ValidationError"
                assert r.json()["errors"][0]["message"].endswith(NUL_MESSAGE)

    with trio.fail_after(60):
        for _ in range(5):  # rounds of concurrent requests: they share group commits
            async with trio.open_nursery() as nursery:
                for i in range(12):
                    nursery.start_soon(post, "attacker", attacker, bad_bodies[i % 3])
                    nursery.start_soon(post, "victim", victim, email(victim))
    assert statuses["victim"] == [201] * 60
    assert statuses["attacker"] == [400] * 60
    stored = await sql.fetch(running_engine.engine.store, "SELECT service_id FROM notifications")
    assert {str(r["service_id"]) for r in stored} == {victim["service"]["id"]}


async def test_integers_and_query_arguments_beyond_the_database(
    running_engine: RunningEngine,
) -> None:
    s = await service(running_engine)
    headers = bearer(s["keys"]["normal"])
    template = s["email_template"]
    async with running_engine.client() as client:
        big = await client.get(f"/v2/template/{template}/version/4294967296", headers=headers)
        top = await client.get(f"/v2/template/{template}/version/2147483647", headers=headers)
        nul = await client.get("/v2/notifications?reference=a%00b", headers=headers)
    assert big.status_code == 400, big.text
    assert big.json()["errors"] == [{
        "error": "ValidationError",
        "message": "version 4294967296 is greater than the maximum of 2147483647",
    }]  # fmt: skip
    assert top.status_code == 404, top.text
    assert nul.status_code == 400, nul.text
    assert nul.json()["errors"][0]["message"] == f"reference {NUL_MESSAGE}"

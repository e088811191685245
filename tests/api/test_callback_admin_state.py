"""The admin API's callback state and replay (issue 23): configuration without secrets,
suspension, last outcomes and what is owed; a replay of a time range; chosen statuses."""

from __future__ import annotations

from tests import sql
from tests.api.test_admin import error_of
from tests.conftest import RunningEngine

TOKEN = "bearer-token-of-the-team"


async def test_callback_state_shows_no_secret_and_what_is_owed(
    running_engine: RunningEngine,
) -> None:
    sid = (await running_engine.create_service())["service"]["id"]
    path = f"/admin/services/{sid}/callback"
    async with running_engine.admin() as admin:
        error_of(await admin.get(path), 404)
        r = await admin.put(path, json={
            "url": "http://127.0.0.1:9/cb", "bearer_token": TOKEN, "signing_secret": "s" * 20,
            "statuses": ["permanent-failure", "technical-failure"],
        })  # fmt: skip
        assert r.status_code == 200, r.text
        await sql.execute(
            running_engine.engine.store,
            "UPDATE service_callbacks SET suspended_at = now(), suspended_reason = 'x'"
            " WHERE service_id = $1",
            sid,
        )  # held: nothing is delivered while we look
        r = await admin.get(path)
    assert r.status_code == 200, r.text
    assert TOKEN not in r.text
    assert "s" * 20 not in r.text
    [state] = r.json()["callbacks"]
    assert state["callback_type"] == "delivery_status"
    assert state["url"] == "http://127.0.0.1:9/cb"
    assert state["signed"] is True
    assert state["statuses"] == ["permanent-failure", "technical-failure"]
    assert state["suspended"] is True
    assert state["suspended_reason"] == "x"
    assert state["owed"] == 0
    assert state["oldest_owed_age_seconds"] is None


async def test_statuses_and_replay_ranges_are_validated(running_engine: RunningEngine) -> None:
    sid = (await running_engine.create_service())["service"]["id"]
    path = f"/admin/services/{sid}/callback"
    async with running_engine.admin() as admin:
        r = await admin.put(path, json={
            "url": "http://127.0.0.1:9/cb", "bearer_token": TOKEN, "statuses": ["sending"],
        })  # fmt: skip
        [message] = error_of(r, 400)
        assert message.startswith("statuses must be among delivered, "), message
        assert message.endswith("not sending"), message
        replay = f"{path}/replay"
        error_of(
            await admin.post(
                replay, json={"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}
            ),
            404,
        )
        await admin.put(path, json={"url": "http://127.0.0.1:9/cb", "bearer_token": TOKEN})
        for start, end in (("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z"),
                           ("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z"),
                           ("2026-12-01T00:00:00", "2026-12-02T00:00:00")):  # fmt: skip
            error_of(await admin.post(replay, json={"start": start, "end": end}), 400)
        r = await admin.post(replay, json={"start": "2026-12-01T00:00:00Z",
                                           "end": "2026-12-02T00:00:00Z"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["queued"] == 0


async def test_a_send_origin_is_shown_and_resumed_alone(running_engine: RunningEngine) -> None:
    """Per-send origins (issue 23): the GET shows the allowlist and each origin's state;
    a resume names one origin and leaves the endpoint alone."""
    sid = (await running_engine.create_service())["service"]["id"]
    path = f"/admin/services/{sid}/callback"
    origin = "http://127.0.0.1:9"
    async with running_engine.admin() as admin:
        await admin.put(path, json={"url": "http://127.0.0.1:9/cb", "bearer_token": TOKEN})
        r = await admin.put(f"{path}/hosts", json={"hosts": ["127.0.0.1"]})
        assert r.status_code == 200, r.text
        store = running_engine.engine.store
        await sql.execute(
            store,
            "UPDATE service_callbacks SET suspended_at = now(), suspended_reason = 'x'"
            " WHERE service_id = $1",
            sid,
        )
        await sql.execute(
            store,
            "INSERT INTO callback_origins (service_id, origin, url, suspended_at,"
            " suspended_reason) VALUES ($1, $2, $3, now(), 'y')",
            sid, origin, origin + "/own",
        )  # fmt: skip
        state = (await admin.get(path)).json()
        assert state["callback_hosts"] == ["127.0.0.1"]
        [shown] = state["origins"]
        assert shown["origin"] == origin
        assert shown["suspended"] is True
        assert shown["suspended_reason"] == "y"
        assert shown["owed"] == 0
        r = await admin.post(f"{path}/resume", json={"origin": origin})
        assert r.status_code == 200, r.text
        assert r.json()["origins"] == [origin]
        state = (await admin.get(path)).json()
    assert state["origins"][0]["suspended"] is False
    assert state["callbacks"][0]["suspended"] is True  # the endpoint stays suspended

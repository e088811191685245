"""Authentication that must succeed (the refusals are in test_errors.py): JWT ``iat``
anywhere inside ±30 s, a token signed by any active key of the service, a token reused
inside the window, and GC's ``ApiKey-v1`` header with or without the ``gcntfy-`` prefix.
The key type of the matched key is the one the request acts as."""

from __future__ import annotations

import time
from typing import Any

import jwt
import trio

from tests.conftest import RunningEngine


def bearer(key: str, iat: float) -> dict[str, str]:
    sid, secret = key[-73:-37], key[-36:]
    return {"Authorization": f"Bearer {jwt.encode({'iss': sid, 'iat': int(iat)}, secret)}"}


async def _get(running: RunningEngine, headers: dict[str, str]) -> Any:
    async with running.client() as client:
        with trio.fail_after(10):
            return await client.get("/v2/templates", headers=headers)


async def test_iat_within_the_clock_bound_is_accepted(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    key = setup["keys"]["normal"]
    for offset in (-25, 0, 25):
        r = await _get(running_engine, bearer(key, time.time() + offset))
        assert r.status_code == 200, (offset, r.text)
    for offset in (-35, 35):
        r = await _get(running_engine, bearer(key, time.time() + offset))
        assert r.status_code == 403, (offset, r.text)


async def test_token_reused_inside_the_window(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    headers = bearer(setup["keys"]["normal"], time.time())
    for _ in range(3):
        assert (await _get(running_engine, headers)).status_code == 200


async def test_every_active_key_is_tried(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    async with running_engine.admin() as admin:
        first = (await admin.post(f"/admin/services/{sid}/api-keys", json={"name": "a"})).json()
        extra = (await admin.post(f"/admin/services/{sid}/api-keys", json={"name": "b"})).json()
        await admin.delete(f"/admin/services/{sid}/api-keys/{first['id']}")
    # The newest key works although an older, revoked one precedes it.
    assert (await _get(running_engine, bearer(extra["key"], time.time()))).status_code == 200
    assert (await _get(running_engine, bearer(first["key"], time.time()))).status_code == 403
    for kind in ("normal", "team", "test"):
        r = await _get(running_engine, bearer(setup["keys"][kind], time.time()))
        assert r.status_code == 200, (kind, r.text)


async def test_api_key_header(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    key = setup["keys"]["normal"]
    for header in (f"ApiKey-v1 {key}", f"ApiKey-v1 gcntfy-{key}", f"apikey-v1   {key}"):
        r = await _get(running_engine, {"Authorization": header})
        assert r.status_code == 200, (header, r.text)


async def test_requests_act_as_the_matched_key_type(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    body = {
        "email_address": "someone@example.com",
        "template_id": setup["email_template"],
        "personalisation": {"name": "A", "code": "1"},
    }
    async with running_engine.client() as client:
        with trio.fail_after(10):
            sent = await client.post(
                "/v2/notifications/email",
                json=body,
                headers={"Authorization": f"ApiKey-v1 {setup['keys']['test']}"},
            )
            assert sent.status_code == 201, sent.text
            as_test = await client.get(
                "/v2/notifications", headers=bearer(setup["keys"]["test"], time.time())
            )
            as_live = await client.get(
                "/v2/notifications", headers=bearer(setup["keys"]["normal"], time.time())
            )
    assert [n["id"] for n in as_test.json()["notifications"]] == [sent.json()["id"]]
    assert as_live.json()["notifications"] == []

"""The first vertical slice, end to end over a real socket and a real database:
admin set-up -> POST /v2/notifications/email with a JWT -> store -> service actor ->
simulated provider -> receipt -> ``delivered``, visible through GET."""

from __future__ import annotations

import time
import uuid

import trio
from notifications_python_client.authentication import create_jwt_token
from notifications_python_client.notifications import NotificationsAPIClient

from tests.conftest import RunningEngine


def jwt_header(key: str) -> dict[str, str]:
    service_id, secret = key[-73:-37], key[-36:]
    return {"Authorization": f"Bearer {create_jwt_token(secret, service_id)}"}


async def wait_for_status(
    running: RunningEngine, key: str, notification_id: str, wanted: str
) -> dict[str, object]:
    async with running.client() as client:
        with trio.fail_after(10):
            while True:
                r = await client.get(
                    f"/v2/notifications/{notification_id}", headers=jwt_header(key)
                )
                assert r.status_code == 200, r.text
                body: dict[str, object] = r.json()
                if body["status"] == wanted:
                    return body
                await trio.sleep(0.02)


async def test_email_reaches_delivered(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    key = setup["keys"]["normal"]
    async with running_engine.client() as client:
        r = await client.post(
            "/v2/notifications/email",
            json={
                "email_address": "someone@example.com",
                "template_id": setup["email_template"],
                "personalisation": {"name": "Ada", "code": "1234"},
                "reference": "ref-1",
            },
            headers=jwt_header(key),
        )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["content"]["subject"] == "Hello Ada"
    assert "Your code is 1234." in created["content"]["body"]
    assert created["content"]["from_email"] == "test.service@notification.canada.ca"
    assert created["uri"] == f"{running_engine.base_url}/v2/notifications/{created['id']}"
    assert created["scheduled_for"] is None
    body = await wait_for_status(running_engine, key, created["id"], "delivered")
    assert body["reference"] == "ref-1"
    assert body["email_address"] == "someone@example.com"
    assert body["type"] == "email"
    assert body["sent_at"] is not None
    assert body["completed_at"] is not None
    assert str(body["created_at"]).endswith("Z")


async def test_official_python_client_sends_and_reads_back(
    running_engine: RunningEngine,
) -> None:
    setup = await running_engine.create_service()
    client = NotificationsAPIClient(setup["keys"]["normal"], base_url=running_engine.base_url)

    def send_and_poll() -> dict[str, object]:
        sent = client.send_sms_notification(
            phone_number="+16135550123",
            template_id=setup["sms_template"],
            personalisation={"code": "9876"},
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got: dict[str, object] = client.get_notification_by_id(sent["id"])
            if got["status"] == "delivered":
                return got
            time.sleep(0.02)
        raise AssertionError("SMS never reached delivered")

    got = await trio.to_thread.run_sync(send_and_poll)
    assert got["phone_number"] == "+16135550123"
    assert got["body"] == "Test service: Code: 9876"


async def test_unknown_notification_is_404_envelope(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    async with running_engine.client() as client:
        r = await client.get(
            f"/v2/notifications/{uuid.uuid4()}", headers=jwt_header(setup["keys"]["normal"])
        )
    assert r.status_code == 404
    assert r.json() == {
        "status_code": 404,
        "errors": [{"error": "NoResultFound", "message": "No result found"}],
    }


async def test_status_ready_and_metrics(running_engine: RunningEngine) -> None:
    async with running_engine.client() as client:
        live = await client.get("/_status")
        ready = await client.get("/_status/ready")
        metrics = await client.get("/metrics")
        missing = await client.get("/nothing-here")
        wrong_method = await client.delete("/_status")
    assert live.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert "notify_api_requests_total" in metrics.text
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["error"] == "NotFound"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status_code"] == 405


async def test_missing_and_bad_auth(running_engine: RunningEngine) -> None:
    async with running_engine.client() as client:
        none = await client.get("/v2/notifications")
        bad = await client.get("/v2/notifications", headers={"Authorization": "Bearer nonsense"})
    assert none.status_code == 401
    assert none.json()["errors"][0] == {
        "error": "AuthError",
        "message": "Unauthorized, authentication token must be provided",
    }
    assert bad.status_code == 403
    assert bad.json()["errors"][0]["error"] == "AuthError"


async def test_admin_requires_the_admin_token(running_engine: RunningEngine) -> None:
    async with running_engine.client() as client:
        r = await client.post(
            "/admin/services",
            json={"name": "x", "email_from": "x"},
            headers={"Authorization": "Bearer wrong"},
        )
    assert r.status_code == 403
    assert r.json()["errors"][0]["message"] == "Invalid admin token"


async def test_template_update_bumps_version(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    sid, tid = setup["service"]["id"], setup["sms_template"]
    async with running_engine.admin() as admin:
        r = await admin.put(
            f"/admin/services/{sid}/templates/{tid}",
            json={"name": "sms", "type": "sms", "content": "New ((code))"},
        )
    assert r.status_code == 200
    assert r.json() == {"id": tid, "version": 2}

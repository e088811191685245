"""The admin API over real HTTP against a running engine and a real database.

Bearer admin token on every route; services, template versions, API keys shown once and
stored only sealed, revocation, reply-to addresses, SMS senders, callbacks, team members
(trial mode), and limit changes that admission obeys at once. Errors use the Notify
envelope with messages a person can act on.
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from typing import Any

import httpx2
import trio

from engine.domain.team_mail import SYSTEM_SERVICE_ID
from tests import sql
from tests.api.test_slice import jwt_header
from tests.conftest import ADMIN_TOKEN, RunningEngine

NO_SUCH = "00000000-0000-4000-8000-000000000000"


def error_of(r: httpx2.Response, status: int) -> list[str]:
    """Assert a Notify envelope with ``status``; return its messages."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status_code"] == status
    assert set(body) == {"status_code", "errors"}
    for item in body["errors"]:
        assert set(item) == {"error", "message"}
    return [item["message"] for item in body["errors"]]


async def _service(running: RunningEngine, **fields: Any) -> dict[str, Any]:
    async with running.admin() as admin:
        body = {"name": "Admin test", "email_from": "admin.test", **fields}
        r = await admin.post("/admin/services", json=body)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def _send_email(
    running: RunningEngine, key: str, template_id: str, to: str = "someone@example.com"
) -> httpx2.Response:
    async with running.client() as client:
        with trio.fail_after(20):
            return await client.post(
                "/v2/notifications/email",
                json={
                    "email_address": to,
                    "template_id": template_id,
                    "personalisation": {"name": "Ada", "code": "1"},
                },
                headers=jwt_header(key),
            )


async def test_admin_routes_need_the_admin_token(running_engine: RunningEngine) -> None:
    sid = (await _service(running_engine))["id"]
    routes = [
        ("POST", "/admin/services", {"name": "x", "email_from": "x"}),
        ("GET", f"/admin/services/{sid}", None),
        ("PATCH", f"/admin/services/{sid}", {"rate_limit": 1}),
        ("POST", f"/admin/services/{sid}/templates", {"name": "t", "type": "sms", "content": "c"}),
        ("POST", f"/admin/services/{sid}/api-keys", {"name": "k"}),
        ("DELETE", f"/admin/services/{sid}/api-keys/{NO_SUCH}", None),
        ("POST", f"/admin/services/{sid}/reply-to", {"email_address": "a@example.com"}),
        ("POST", f"/admin/services/{sid}/sms-senders", {"sms_sender": "+16135550100"}),
        ("PUT", f"/admin/services/{sid}/callback", {"url": "https://x", "bearer_token": "x" * 20}),
        ("POST", f"/admin/services/{sid}/team-members", {"email_address": "a@example.com"}),
    ]
    wrong = [f"Bearer {ADMIN_TOKEN}x", f"Bearer {ADMIN_TOKEN[:-1]}", f"Basic {ADMIN_TOKEN}"]
    async with running_engine.client() as client:
        with trio.fail_after(30):
            # One wrong token per route: ten guesses, the budget of one client address
            # (engine.api.admin_throttle); the eleventh is refused unread.
            for i, (method, path, body) in enumerate(routes):
                r = await client.request(method, path, json=body)
                assert error_of(r, 401) == ["Unauthorized, admin token must be provided"]
                assert r.json()["errors"][0]["error"] == "AuthError"
                header = wrong[i % len(wrong)]
                r = await client.request(method, path, json=body, headers={"Authorization": header})
                assert error_of(r, 403) == ["Invalid admin token"], (method, path, header)
            r = await client.get(f"/admin/services/{sid}", headers={"Authorization": wrong[0]})
            assert r.status_code == 429, r.text
    # Nothing was written by the refused calls.
    store = running_engine.engine.store
    assert (
        len(await sql.fetch(store, "SELECT id FROM services WHERE id <> $1", SYSTEM_SERVICE_ID))
        == 1
    )
    assert (
        await sql.fetch(store, "SELECT id FROM templates WHERE service_id = $1", uuid.UUID(sid))
        == []
    )
    assert await sql.fetch(store, "SELECT id FROM api_keys") == []
    row = await sql.fetchrow(store, "SELECT rate_limit FROM services WHERE id = $1", uuid.UUID(sid))
    assert row["rate_limit"] == 1000


async def test_create_read_and_update_a_service(running_engine: RunningEngine) -> None:
    created = await _service(running_engine, restricted=True, sms_daily_limit=42)
    sid = created["id"]
    uuid.UUID(sid)
    assert created["name"] == "Admin test"
    assert created["email_from"] == "admin.test"
    assert created["restricted"] is True
    assert created["sms_daily_limit"] == 42
    assert created["rate_limit"] == 1000
    assert created["active"] is True
    async with running_engine.admin() as admin:
        got = await admin.get(f"/admin/services/{sid}")
        assert got.status_code == 200
        assert got.json() == created
        r = await admin.patch(f"/admin/services/{sid}", json={"name": "Renamed", "rate_limit": 7})
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Renamed"
        assert r.json()["rate_limit"] == 7
        assert r.json()["sms_daily_limit"] == 42  # untouched fields keep their values
        assert (await admin.get(f"/admin/services/{sid}")).json()["name"] == "Renamed"
        # Errors
        assert error_of(await admin.get(f"/admin/services/{NO_SUCH}"), 404) == ["No result found"]
        assert error_of(await admin.get("/admin/services/nope"), 400) == [
            "service_id is not a valid UUID"
        ]
        missing = error_of(await admin.post("/admin/services", json={"name": "x"}), 400)
        assert "email_from" in missing[0]
        unknown = await admin.post(
            "/admin/services", json={"name": "x", "email_from": "x", "colour": "red"}
        )
        assert "colour" in error_of(unknown, 400)[0]
        bad_json = await admin.post(
            "/admin/services", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert error_of(bad_json, 400)[0].startswith("Error decoding arguments")
        wrong_type = await admin.patch(f"/admin/services/{sid}", json={"rate_limit": "many"})
        assert "rate_limit" in error_of(wrong_type, 400)[0]
        for field, value in [
            ("rate_limit", 0),
            ("email_annual_limit", 2**31),
            ("sms_daily_limit", -1),
        ]:
            r = await admin.patch(f"/admin/services/{sid}", json={field: value})
            assert f"$.{field}" in error_of(r, 400)[0], (field, value)
            r = await admin.post(
                "/admin/services", json={"name": "x", "email_from": "x", field: value}
            )
            assert f"$.{field}" in error_of(r, 400)[0], (field, value)
        again = await admin.post(
            "/admin/services", json={"id": sid, "name": "x", "email_from": "x"}
        )
        assert error_of(again, 400) == [f"service {sid} already exists"]
    assert (
        len(
            await sql.fetch(
                running_engine.engine.store,
                "SELECT id FROM services WHERE id <> $1",
                SYSTEM_SERVICE_ID,
            )
        )
        == 1
    )


async def test_template_versions(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    key = setup["keys"]["normal"]
    async with running_engine.admin() as admin:
        r = await admin.post(
            f"/admin/services/{sid}/templates",
            json={"name": "Welcome", "type": "email", "subject": "Hi ((name))", "content": "v1"},
        )
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        assert r.json() == {"id": tid, "version": 1}
        r = await admin.put(
            f"/admin/services/{sid}/templates/{tid}",
            json={"name": "Welcome", "type": "email", "subject": "Hello ((name))", "content": "v2"},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"id": tid, "version": 2}
        # POST with an existing id publishes a new version too.
        r = await admin.post(
            f"/admin/services/{sid}/templates",
            json={"id": tid, "name": "Welcome", "type": "email", "subject": "S", "content": "v3"},
        )
        assert r.json() == {"id": tid, "version": 3}
        no_subject = await admin.post(
            f"/admin/services/{sid}/templates",
            json={"name": "x", "type": "email", "content": "c"},
        )
        assert error_of(no_subject, 400) == ["subject is required for an email template"]
        bad_type = await admin.post(
            f"/admin/services/{sid}/templates", json={"name": "x", "type": "fax", "content": "c"}
        )
        assert "type" in error_of(bad_type, 400)[0]
        bad_id = await admin.put(
            f"/admin/services/{sid}/templates/not-a-uuid",
            json={"name": "x", "type": "sms", "content": "c"},
        )
        assert error_of(bad_id, 400) == ["template_id is not a valid UUID"]
        # Another service cannot overwrite this template.
        other = (await admin.post("/admin/services", json={"name": "o", "email_from": "o"})).json()
        stolen = await admin.put(
            f"/admin/services/{other['id']}/templates/{tid}",
            json={"name": "x", "type": "sms", "content": "c"},
        )
        assert error_of(stolen, 404) == ["No result found"]
    async with running_engine.client() as client:
        current = await client.get(f"/v2/template/{tid}", headers=jwt_header(key))
        assert current.status_code == 200, current.text
        assert current.json()["version"] == 3
        assert current.json()["body"] == "v3"
        old = await client.get(f"/v2/template/{tid}/version/1", headers=jwt_header(key))
        assert old.status_code == 200, old.text
        assert old.json()["version"] == 1
        assert old.json()["body"] == "v1"
        assert old.json()["subject"] == "Hi ((name))"
        second = await client.get(f"/v2/template/{tid}/version/2", headers=jwt_header(key))
        assert second.json()["body"] == "v2"
    rows = await sql.fetch(
        running_engine.engine.store,
        "SELECT version, content FROM template_versions WHERE template_id = $1 ORDER BY version",
        uuid.UUID(tid),
    )
    assert [(r["version"], r["content"]) for r in rows] == [(1, "v1"), (2, "v2"), (3, "v3")]


async def test_api_key_is_shown_once_and_stored_only_sealed(
    running_engine: RunningEngine,
) -> None:
    sid = (await _service(running_engine))["id"]
    async with running_engine.admin() as admin:
        r = await admin.post(
            f"/admin/services/{sid}/api-keys", json={"name": "my live key", "key_type": "normal"}
        )
        assert r.status_code == 201, r.text
        created = r.json()
        service_view = (await admin.get(f"/admin/services/{sid}")).text
        bad = await admin.post(
            f"/admin/services/{sid}/api-keys", json={"name": "k", "key_type": "admin"}
        )
        assert "key_type" in error_of(bad, 400)[0]
    key: str = created["key"]
    prefix = f"my_live_key-{sid}-"
    assert key.startswith(prefix)
    secret = key[len(prefix) :]
    assert str(uuid.UUID(secret)) == secret
    assert created["key_type"] == "normal"
    assert secret not in service_view
    row = await sql.fetchrow(
        running_engine.engine.store,
        "SELECT * FROM api_keys WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    assert row["service_id"] == uuid.UUID(sid)
    stored = repr(dict(row)).encode() + b"".join(
        bytes(v) for v in row.values() if isinstance(v, bytes | bytearray | memoryview)
    )
    assert secret.encode() not in stored
    assert secret.replace("-", "").encode() not in stored
    assert uuid.UUID(secret).bytes not in stored
    assert row["secret_digest"] == hashlib.sha256(secret.encode()).digest()
    # The key works, both as a JWT secret and as GC's ApiKey-v1 header.
    async with running_engine.client() as client:
        assert (await client.get("/v2/templates", headers=jwt_header(key))).status_code == 200
        r = await client.get("/v2/templates", headers={"Authorization": f"ApiKey-v1 {key}"})
        assert r.status_code == 200, r.text


async def test_a_revoked_key_is_refused(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    async with running_engine.admin() as admin:
        doomed = (await admin.post(f"/admin/services/{sid}/api-keys", json={"name": "d"})).json()
        assert (
            await _send_email(running_engine, doomed["key"], setup["email_template"])
        ).is_success
        r = await admin.delete(f"/admin/services/{sid}/api-keys/{doomed['id']}")
        assert r.status_code == 200, r.text
        assert r.json() == {"id": doomed["id"], "revoked": True}
        again = await admin.delete(f"/admin/services/{sid}/api-keys/{doomed['id']}")
        assert error_of(again, 404) == ["No result found"]
        bad = await admin.delete(f"/admin/services/{sid}/api-keys/zzz")
        assert error_of(bad, 400) == ["key_id is not a valid UUID"]
    refused = await _send_email(running_engine, doomed["key"], setup["email_template"])
    assert error_of(refused, 403) == ["Invalid token: API key revoked"]
    assert refused.json()["errors"][0]["error"] == "AuthError"
    async with running_engine.client() as client:
        r = await client.get(
            "/v2/templates", headers={"Authorization": f"ApiKey-v1 {doomed['key']}"}
        )
        assert error_of(r, 403) == ["Invalid token: API key revoked"]
    # The service's other keys are unaffected.
    ok = await _send_email(running_engine, setup["keys"]["normal"], setup["email_template"])
    assert ok.status_code == 201, ok.text


async def test_reply_to_addresses(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    async with running_engine.admin() as admin:
        r = await admin.post(
            f"/admin/services/{sid}/reply-to", json={"email_address": " help@example.gc.ca "}
        )
        assert r.status_code == 201, r.text
        assert r.json()["email_address"] == "help@example.gc.ca"
        reply_to_id = r.json()["id"]
        bad = await admin.post(f"/admin/services/{sid}/reply-to", json={"email_address": "nope"})
        assert error_of(bad, 400) == ["email_address Not a valid email address"]
        assert bad.json()["errors"][0]["error"] == "ValidationError"
        missing = await admin.post(f"/admin/services/{sid}/reply-to", json={})
        assert "email_address" in error_of(missing, 400)[0]
    async with running_engine.client() as client:
        r = await client.post(
            "/v2/notifications/email",
            json={
                "email_address": "someone@example.com",
                "template_id": setup["email_template"],
                "personalisation": {"name": "Ada", "code": "1"},
                "email_reply_to_id": reply_to_id,
            },
            headers=jwt_header(setup["keys"]["normal"]),
        )
    assert r.status_code == 201, r.text


async def test_sms_senders(running_engine: RunningEngine) -> None:
    sid = (await _service(running_engine))["id"]
    async with running_engine.admin() as admin:
        for given, stored in [
            ("+1 613 555 0100", "+16135550100"),
            ("GOVCA", "GOVCA"),
            ("38284", "38284"),
        ]:
            r = await admin.post(f"/admin/services/{sid}/sms-senders", json={"sms_sender": given})
            assert r.status_code == 201, r.text
            assert r.json()["sms_sender"] == stored
        for bad in ("", "   ", "A", "this sender is far too long", "+1 555 01", "<b>x</b>"):
            r = await admin.post(f"/admin/services/{sid}/sms-senders", json={"sms_sender": bad})
            [message] = error_of(r, 400)
            assert message.startswith("sms_sender "), (bad, message)
            assert r.json()["errors"][0]["error"] == "ValidationError"
        missing = await admin.post(f"/admin/services/{sid}/sms-senders", json={})
        assert "sms_sender" in error_of(missing, 400)[0]
    rows = await sql.fetch(
        running_engine.engine.store,
        "SELECT sms_sender, is_default FROM sms_senders WHERE service_id = $1 ORDER BY created_at",
        uuid.UUID(sid),
    )
    # The newest default wins; only one default at a time.
    assert [r["sms_sender"] for r in rows if r["is_default"]] == ["38284"]
    assert len(rows) == 3


async def test_callback_is_stored_sealed_and_validated(running_engine: RunningEngine) -> None:
    sid = (await _service(running_engine))["id"]
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}/callback"
    token = "callback-bearer-token-42"
    async with running_engine.admin() as admin:
        with trio.fail_after(30):
            short = await admin.put(
                f"/admin/services/{sid}/callback", json={"url": url, "bearer_token": "short"}
            )
            assert error_of(short, 400) == ["bearer_token must be at least 10 characters"]
            ftp = await admin.put(
                f"/admin/services/{sid}/callback", json={"url": "ftp://x/y", "bearer_token": token}
            )
            assert error_of(ftp, 400) == ["url is not a valid https url"]
            for path in ("/first", "/callback"):
                r = await admin.put(
                    f"/admin/services/{sid}/callback",
                    json={"url": url.replace("/callback", path), "bearer_token": token},
                )
                assert r.status_code == 200, r.text
                assert r.json()["url"].endswith(path)
                assert r.json()["callback_type"] == "delivery_status"
    rows = await sql.fetch(
        running_engine.engine.store,
        "SELECT * FROM service_callbacks WHERE service_id = $1",
        uuid.UUID(sid),
    )
    assert len(rows) == 1  # PUT replaces
    assert rows[0]["url"] == url
    stored = repr(dict(rows[0])).encode() + bytes(rows[0]["bearer_sealed"])
    assert token.encode() not in stored


async def test_trial_service_can_send_to_its_team_members(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service(restricted=True)
    sid = setup["service"]["id"]
    key = setup["keys"]["normal"]
    refused = await _send_email(running_engine, key, setup["email_template"], "me@example.gc.ca")
    [message] = error_of(refused, 400)
    assert message.startswith("Can’t send to this recipient when service is in trial mode")
    async with running_engine.admin() as admin:
        r = await admin.post(
            f"/admin/services/{sid}/team-members",
            json={"email_address": "Me@Example.gc.ca", "mobile_number": "613-555-0199"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["mobile_number"] == "+16135550199"
        empty = await admin.post(f"/admin/services/{sid}/team-members", json={})
        assert error_of(empty, 400) == ["email_address or mobile_number is required"]
        bad = await admin.post(
            f"/admin/services/{sid}/team-members", json={"email_address": "not-an-address"}
        )
        assert error_of(bad, 400) == ["Not a valid email address"]
    sent = await _send_email(running_engine, key, setup["email_template"], "me@example.gc.ca")
    assert sent.status_code == 201, sent.text
    async with running_engine.client() as client:
        sms = await client.post(
            "/v2/notifications/sms",
            json={
                "phone_number": "+1 613 555 0199",
                "template_id": setup["sms_template"],
                "personalisation": {"code": "1"},
            },
            headers=jwt_header(key),
        )
    assert sms.status_code == 201, sms.text
    # Still refused for anyone else.
    other = await _send_email(running_engine, key, setup["email_template"], "you@example.gc.ca")
    assert error_of(other, 400)[0].startswith("Can’t send to this recipient")


async def test_limit_changes_apply_to_admission_at_once(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    key, template = setup["keys"]["normal"], setup["email_template"]
    assert (await _send_email(running_engine, key, template)).status_code == 201
    async with running_engine.admin() as admin:
        r = await admin.patch(f"/admin/services/{sid}", json={"email_daily_limit": 1})
        assert r.status_code == 200, r.text
        refused = await _send_email(running_engine, key, template)
        assert error_of(refused, 429) == ["Exceeded email daily sending limit of 1 messages"]
        await admin.patch(f"/admin/services/{sid}", json={"email_daily_limit": 100})
        assert (await _send_email(running_engine, key, template)).status_code == 201
        # A lower rate limit takes over the bucket built under the old one (1000/min).
        await admin.patch(f"/admin/services/{sid}", json={"rate_limit": 3})
        answers = [await _send_email(running_engine, key, template) for _ in range(4)]
        codes = [r.status_code for r in answers]
        # Capacity min(ceil(3 / 3) + 1, 1000) = 2; refill 0.05/s cannot add 2 more here.
        assert codes[0] == 201
        assert 429 in codes, codes
        limited = next(r for r in answers if r.status_code == 429)
        assert error_of(limited, 429) == [
            "Exceeded rate limit for key type LIVE of 3 requests per 60 seconds"
        ]
        # Suspending or archiving the service stops sending too.
        await admin.patch(f"/admin/services/{sid}", json={"rate_limit": 1000, "suspended": True})
        suspended = await _send_email(running_engine, key, template)
        assert error_of(suspended, 403) == ["Service is suspended"]
        await admin.patch(f"/admin/services/{sid}", json={"suspended": False, "active": False})
    archived = await _send_email(running_engine, key, template)
    assert error_of(archived, 403) == ["Invalid token: service is archived"]

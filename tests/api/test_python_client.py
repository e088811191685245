"""Every public v2 endpoint driven through the official ``notifications-python-client``
against a running engine (real socket, real PostgreSQL), with each JSON body checked
against the contract's field list and the engine's served OpenAPI document.

The client is synchronous (requests), so its calls run in a worker thread; every wait is
bounded by ``trio.fail_after`` on the real clock.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import openapi_spec_validator
import pytest
import trio
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from engine.api.app import build_router
from engine.api.v2.cancel import ALREADY_CANCELLED, NOT_SCHEDULED
from engine.domain.notification import NotificationRow
from tests.api.contract import (
    EMAIL_CONTENT_FIELDS,
    ERROR_FIELDS,
    LIST_FIELDS,
    POST_FIELDS,
    PREVIEW_FIELDS,
    RECEIVED_FIELDS,
    SMS_CONTENT_FIELDS,
    TEMPLATE_FIELDS,
    TEMPLATE_REF_FIELDS,
    TIMESTAMP,
    OpenApiValidator,
    assert_notification,
)
from tests.conftest import RunningEngine

T = TypeVar("T")


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(partial(fn, *args, **kwargs))


@dataclass
class Api:
    running: RunningEngine
    setup: dict[str, Any]
    client: NotificationsAPIClient
    schema: OpenApiValidator

    @property
    def base(self) -> str:
        return self.running.base_url

    @property
    def service_id(self) -> str:
        return str(self.setup["service"]["id"])

    def key_client(self, key_type: str) -> NotificationsAPIClient:
        return NotificationsAPIClient(self.setup["keys"][key_type], base_url=self.base)


@pytest.fixture
async def api(running_engine: RunningEngine) -> Api:
    setup = await running_engine.create_service()
    async with running_engine.client() as http:
        document = (await http.get("/v2/openapi")).json()
    client = NotificationsAPIClient(setup["keys"]["normal"], base_url=running_engine.base_url)
    return Api(running_engine, setup, client, OpenApiValidator(document))


def poll_status(client: NotificationsAPIClient, notification_id: str, wanted: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = client.get_notification_by_id(notification_id)
        if got["status"] == wanted:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{notification_id} never reached {wanted}")


def error_of(exc: HTTPError) -> dict[str, Any]:
    body: dict[str, Any] = exc.response.json()  # type: ignore[union-attr]
    assert set(body) == ERROR_FIELDS
    assert body["status_code"] == exc.status_code
    return body


async def test_send_email_and_get_it_back(api: Api) -> None:
    tid = api.setup["email_template"]
    sent = await run(
        api.client.send_email_notification,
        email_address="someone@example.com",
        template_id=tid,
        personalisation={"name": "Ada", "code": "1234"},
        reference="email-ref",
    )
    assert set(sent) == POST_FIELDS
    assert set(sent["content"]) == EMAIL_CONTENT_FIELDS
    assert set(sent["template"]) == TEMPLATE_REF_FIELDS
    api.schema.validate("PostEmailResponse", sent)
    assert sent["reference"] == "email-ref"
    assert sent["uri"] == f"{api.base}/v2/notifications/{sent['id']}"
    assert sent["template"] == {
        "id": tid,
        "version": 1,
        "uri": f"{api.base}/services/{api.service_id}/templates/{tid}",
    }
    assert sent["content"]["subject"] == "Hello Ada"
    assert sent["content"]["from_email"] == "test.service@notification.canada.ca"
    assert sent["scheduled_for"] is None

    got = await run(poll_status, api.client, sent["id"], "delivered")
    assert_notification(got)
    api.schema.validate("Notification", got)
    assert got["type"] == "email"
    assert got["email_address"] == "someone@example.com"
    assert got["phone_number"] is None
    assert got["body"] == sent["content"]["body"]
    assert got["subject"] == "Hello Ada"
    assert got["reference"] == "email-ref"
    assert got["status_description"] == "Delivered"
    assert got["completed_at"] is not None
    assert got["sent_at"] is not None


async def test_bilingual_template_sends_and_previews_through_the_client(api: Api) -> None:
    """GC's [[fr]]/[[en]] blocks (issue 22): the client's calls and answers are unchanged,
    the text has no tags, the HTML has the language sections, French first here."""
    content = "[[fr]]\nBonjour ((name))\n[[/fr]]\n\n[[en]]\nHello **((name))**\n[[/en]]"
    async with api.running.admin() as admin:
        created = await admin.post(
            f"/admin/services/{api.service_id}/templates",
            json={"name": "bilingual", "type": "email", "subject": "Bonjour | Hello",
                  "content": content},
        )  # fmt: skip
    tid = created.json()["id"]
    sent = await run(
        api.client.send_email_notification,
        email_address="someone@example.com",
        template_id=tid,
        personalisation={"name": "Zoé"},
    )
    api.schema.validate("PostEmailResponse", sent)
    assert sent["content"]["body"] == "Bonjour Zoé\n\nHello Zoé"
    got = await run(poll_status, api.client, sent["id"], "delivered")
    api.schema.validate("Notification", got)
    assert got["body"] == sent["content"]["body"]
    preview = await run(api.client.post_template_preview, tid, {"name": "Zoé"})
    api.schema.validate("TemplatePreview", preview)
    assert preview["body"] == "Bonjour Zoé\n\nHello Zoé"
    assert '<html lang="fr">' in preview["html"]
    french, english = (
        preview["html"].index('<div lang="fr-ca">'),
        preview["html"].index('<div lang="en-ca">'),
    )
    assert french < english
    assert "<strong>Zoé</strong>" in preview["html"][english:]
    assert "[[" not in preview["html"]


async def test_send_sms_with_sender_and_get_it_back(api: Api) -> None:
    async with api.running.admin() as admin:
        r = await admin.post(
            f"/admin/services/{api.service_id}/sms-senders", json={"sms_sender": "+16135550000"}
        )
    sender_id = r.json()["id"]
    sent = await run(
        api.client.send_sms_notification,
        phone_number="+1 613 555 0123",
        template_id=api.setup["sms_template"],
        personalisation={"code": "9876"},
        reference="sms-ref",
        sms_sender_id=sender_id,
    )
    assert set(sent) == POST_FIELDS
    assert set(sent["content"]) == SMS_CONTENT_FIELDS
    api.schema.validate("PostSmsResponse", sent)
    assert sent["content"] == {"body": "Test service: Code: 9876", "from_number": "+16135550000"}

    got = await run(poll_status, api.client, sent["id"], "delivered")
    assert_notification(got)
    api.schema.validate("Notification", got)
    assert got["type"] == "sms"
    assert got["phone_number"] == "+16135550123"
    assert got["email_address"] is None
    assert got["subject"] is None
    assert got["body"] == "Test service: Code: 9876"


async def _insert_delivered(api: Api, count: int) -> list[str]:
    """Rows straight into the store (the API would take too long for 250+), newest first."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    rows = [
        NotificationRow(
            id=uuid.uuid4(),
            service_id=uuid.UUID(api.service_id),
            template_id=uuid.UUID(api.setup["email_template"]),
            template_version=1,
            api_key_id=None,
            key_type="normal",
            notification_type="email",
            recipient=f"bulk{i}@example.com",
            status="delivered",
            client_reference=None,
            personalisation=None,
            subject="Hello",
            body="Body",
            reply_to_text=None,
            process_type="normal",
            billable_units=1,
            job_id=None,
            job_row_number=None,
            scheduled_for=None,
            unsubscribe_url=None,
            created_at=now - dt.timedelta(milliseconds=i),
        )
        for i in range(count)
    ]
    await api.running.engine.store.insert_notifications(rows)
    return [str(r.id) for r in rows]


async def test_list_filters_paging_and_iterator(api: Api) -> None:
    older = await _insert_delivered(api, 255)
    sms = [
        await run(
            api.client.send_sms_notification,
            phone_number="+16135550123",
            template_id=api.setup["sms_template"],
            personalisation={"code": str(i)},
            reference=f"sms-{i}",
        )
        for i in range(2)
    ]
    test_client = api.key_client("test")
    failed = await run(
        test_client.send_email_notification,
        email_address="perm-fail@simulator.notify",
        template_id=api.setup["email_template"],
        personalisation={"name": "x", "code": "y"},
    )
    await run(poll_status, api.client, sms[1]["id"], "delivered")
    await run(poll_status, test_client, failed["id"], "permanent-failure")

    page = await run(api.client.get_all_notifications)
    assert set(page) == LIST_FIELDS
    api.schema.validate("NotificationList", page)
    assert len(page["notifications"]) == 250
    for item in page["notifications"][:3]:
        assert_notification(item)
    first_ids = [n["id"] for n in page["notifications"]]
    assert first_ids[:2] == [sms[1]["id"], sms[0]["id"]]  # newest first
    assert page["links"]["current"] == f"{api.base}/v2/notifications"
    assert page["links"]["next"] == f"{api.base}/v2/notifications?older_than={first_ids[-1]}"

    second = await run(api.client.get_all_notifications, older_than=first_ids[-1])
    assert [n["id"] for n in second["notifications"]] == older[248:]

    everything = await run(lambda: list(api.client.get_all_notifications_iterator()))
    assert [n["id"] for n in everything] == [sms[1]["id"], sms[0]["id"], *older]

    only_sms = await run(api.client.get_all_notifications, template_type="sms")
    assert {n["id"] for n in only_sms["notifications"]} == {s["id"] for s in sms}
    assert "template_type=sms" in only_sms["links"]["current"]

    by_ref = await run(api.client.get_all_notifications, reference="sms-0")
    assert [n["id"] for n in by_ref["notifications"]] == [sms[0]["id"]]

    unknown = await run(api.client.get_all_notifications, older_than=str(uuid.uuid4()))
    assert unknown["notifications"] == []
    assert "next" not in unknown["links"]

    # Test-key notifications are visible only to test keys; "failed" expands.
    test_page = await run(test_client.get_all_notifications, status="failed")
    assert [n["id"] for n in test_page["notifications"]] == [failed["id"]]
    assert test_page["notifications"][0]["status"] == "permanent-failure"
    assert failed["id"] not in first_ids
    none_failed = await run(api.client.get_all_notifications, status="failed")
    assert none_failed["notifications"] == []


async def test_templates_versions_and_previews(api: Api) -> None:
    email_id, sms_id = api.setup["email_template"], api.setup["sms_template"]
    email = await run(api.client.get_template, email_id)
    assert set(email) == TEMPLATE_FIELDS
    api.schema.validate("Template", email)
    assert email["type"] == "email"
    assert email["subject"] == "Hello ((name))"
    assert email["body"] == "Dear ((name)),\n\nYour code is ((code))."
    assert email["personalisation"] == {"name": {"required": True}, "code": {"required": True}}
    assert email["version"] == 1
    assert TIMESTAMP.match(email["created_at"])

    async with api.running.admin() as admin:
        r = await admin.put(
            f"/admin/services/{api.service_id}/templates/{sms_id}",
            json={"name": "sms", "type": "sms", "content": "New ((Code)) for ((who))"},
        )
    assert r.json()["version"] == 2
    current = await run(api.client.get_template, sms_id)
    assert (current["version"], current["body"], current["subject"]) == (
        2,
        "New ((Code)) for ((who))",
        None,
    )
    assert current["personalisation"] == {"Code": {"required": True}, "who": {"required": True}}
    v1 = await run(api.client.get_template_version, sms_id, 1)
    api.schema.validate("Template", v1)
    assert (v1["version"], v1["body"]) == (1, "Code: ((code))")
    v2 = await run(api.client.get_template_version, sms_id, 2)
    assert v2 == current

    everything = await run(api.client.get_all_templates)
    api.schema.validate("TemplateList", everything)
    assert {t["id"] for t in everything["templates"]} == {email_id, sms_id}
    only_email = await run(api.client.get_all_templates, "email")
    assert [t["id"] for t in only_email["templates"]] == [email_id]

    preview = await run(api.client.post_template_preview, email_id, {"name": "Ada", "code": "42"})
    assert set(preview) == PREVIEW_FIELDS
    api.schema.validate("TemplatePreview", preview)
    assert preview["subject"] == "Hello Ada"
    assert "Your code is 42." in preview["body"]
    assert "<" not in preview["body"]
    assert preview["html"] is not None
    assert "Your code is 42." in preview["html"]
    sms_preview = await run(api.client.post_template_preview, sms_id, {"code": "7", "who": "you"})
    api.schema.validate("TemplatePreview", sms_preview)
    assert (sms_preview["body"], sms_preview["html"], sms_preview["subject"]) == (
        "New 7 for you",
        None,
        None,
    )

    with pytest.raises(HTTPError) as missing:
        await run(api.client.post_template_preview, email_id, {"name": "Ada"})
    assert missing.value.status_code == 400
    assert missing.value.message == [
        {"error": "BadRequestError", "message": "Missing personalisation: code"}
    ]
    with pytest.raises(HTTPError) as unknown:
        await run(api.client.get_template, str(uuid.uuid4()))
    assert unknown.value.status_code == 404
    assert error_of(unknown.value)["errors"] == [
        {"error": "NoResultFound", "message": "No result found"}
    ]


async def test_received_texts_are_an_empty_list(api: Api) -> None:
    texts = await run(api.client.get_received_texts)
    assert set(texts) == RECEIVED_FIELDS
    api.schema.validate("ReceivedTextList", texts)
    assert texts == {
        "received_text_messages": [],
        "links": {"current": f"{api.base}/v2/received-text-messages"},
    }
    assert await run(lambda: list(api.client.get_received_texts_iterator())) == []


async def test_cancel_a_scheduled_notification(api: Api) -> None:
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    body = {
        "email_address": "later@example.com",
        "template_id": api.setup["email_template"],
        "personalisation": {"name": "Ada", "code": "1"},
        "scheduled_for": when,
    }
    scheduled = await run(api.client.post, "/v2/notifications/email", body)
    assert scheduled["scheduled_for"] == when
    got = await run(api.client.get_notification_by_id, scheduled["id"])
    assert got["status"] == "created"
    assert got["scheduled_for"].startswith(when)

    cancelled = await run(api.client.delete, f"/v2/notifications/{scheduled['id']}")
    assert_notification(cancelled)
    api.schema.validate("Notification", cancelled)
    assert cancelled["status"] == "cancelled"
    assert cancelled["completed_at"] is not None
    after = await run(api.client.get_notification_by_id, scheduled["id"])
    assert after["status"] == "cancelled"

    with pytest.raises(HTTPError) as again:
        await run(api.client.delete, f"/v2/notifications/{scheduled['id']}")
    assert again.value.status_code == 400
    assert again.value.message == [{"error": "BadRequestError", "message": ALREADY_CANCELLED}]

    now = await run(
        api.client.send_email_notification,
        email_address="now@example.com",
        template_id=api.setup["email_template"],
        personalisation={"name": "Ada", "code": "1"},
    )
    with pytest.raises(HTTPError) as not_scheduled:
        await run(api.client.delete, f"/v2/notifications/{now['id']}")
    assert not_scheduled.value.message == [{"error": "BadRequestError", "message": NOT_SCHEDULED}]

    with pytest.raises(HTTPError) as unknown:
        await run(api.client.delete, f"/v2/notifications/{uuid.uuid4()}")
    assert unknown.value.status_code == 404
    assert error_of(unknown.value)["errors"][0]["error"] == "NoResultFound"


async def test_errors_raise_http_error_with_the_envelope(api: Api) -> None:
    with pytest.raises(HTTPError) as not_found:
        await run(api.client.get_notification_by_id, str(uuid.uuid4()))
    assert not_found.value.status_code == 404
    assert not_found.value.message == [{"error": "NoResultFound", "message": "No result found"}]
    api.schema.validate("Error", error_of(not_found.value))

    with pytest.raises(HTTPError) as bad_id:
        await run(api.client.get_notification_by_id, "not-a-uuid")
    assert bad_id.value.status_code == 400
    assert bad_id.value.message == [
        {"error": "ValidationError", "message": "notification_id is not a valid UUID"}
    ]

    with pytest.raises(HTTPError) as wrong_type:
        await run(
            api.client.send_email_notification,
            email_address="a@example.com",
            template_id=api.setup["sms_template"],
        )
    assert wrong_type.value.message == [
        {
            "error": "BadRequestError",
            "message": "sms template is not suitable for email notification",
        }
    ]

    stranger = NotificationsAPIClient(f"key-{api.service_id}-{uuid.uuid4()}", base_url=api.base)
    with pytest.raises(HTTPError) as forbidden:
        await run(stranger.get_all_templates)
    assert forbidden.value.status_code == 403
    assert forbidden.value.message == [
        {"error": "AuthError", "message": "Invalid token: signature, api token not found"}
    ]


async def test_openapi_document_describes_every_v2_route(api: Api) -> None:
    async with api.running.client() as http:
        served = await http.get("/v2/openapi")
        alias = await http.get("/v2/openapi-en")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert alias.json() == served.json()
    document = served.json()
    openapi_spec_validator.validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": api.base}]

    routes = build_router(api.running.engine.api_deps()).templates()
    for template, methods in routes.items():
        if not template.startswith("/v2/"):
            continue
        assert template in document["paths"], template
        assert set(document["paths"][template]) == {m.lower() for m in methods}, template
        for operation in document["paths"][template].values():
            if template == "/v2/notifications/letter":  # always refused (letters.py)
                assert "200" not in operation["responses"]
                continue
            assert {"200", "201", "202"} & set(operation["responses"])  # 202: a report
    assert "/v2/notifications/bulk" in document["paths"]
    assert "Error" in document["components"]["schemas"]


async def test_bulk_job_matches_the_document(api: Api) -> None:
    rows = [
        ["email address", "name", "code"],
        ["a@example.com", "A", "1"],
        ["b@example.com", "B", "2"],
    ]
    body = {"name": "bulk.csv", "template_id": api.setup["email_template"], "rows": rows}
    job = await run(api.client.post, "/v2/notifications/bulk", body)
    api.schema.validate("PostBulkResponse", job)
    assert job["data"]["notification_count"] == 2
    assert job["data"]["original_file_name"] == "bulk.csv"
    assert job["data"]["job_status"] == "pending"

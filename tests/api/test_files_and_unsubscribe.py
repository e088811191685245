"""Files in personalisation (link and attach), one_click_unsubscribe_url and
sanitise_content_for, over real HTTP against a running engine.

What reaches the provider is observed through the provider seam: the simulated email
provider of the running engine is wrapped in a recorder that passes every batch on."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import httpx2
import pytest
import trio

from engine.domain.notification import EmailMessage, Outbound
from engine.providers.base import SendResult
from tests import sql
from tests.conftest import RunningEngine

PDF = b"%PDF-1.4 not really a pdf \x00\x01\x02"


class Recorder:
    """A provider that records what it is asked to send, then lets the real one send it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.channel = inner.channel
        self.max_batch = inner.max_batch
        self.sent: list[Outbound] = []

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]:
        self.sent.extend(messages)
        result: list[SendResult] = await self.inner.send_batch(messages)
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def wait_for(self, notification_id: str) -> EmailMessage:
        with trio.fail_after(15):
            while True:
                for m in self.sent:
                    if str(m.notification_id) == notification_id:
                        assert isinstance(m, EmailMessage)
                        return m
                await trio.sleep(0.02)


def record(running: RunningEngine) -> Recorder:
    actor = running.engine.providers["simulated-email"]
    recorder = Recorder(actor.provider)
    actor.provider = recorder
    return recorder


@pytest.fixture
def running_engine(scanning_engine: RunningEngine) -> RunningEngine:
    """Files are sent only where they are virus scanned (issue 25)."""
    return scanning_engine


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey-v1 {key}"}


async def send_email(running: RunningEngine, key: str, body: dict[str, Any]) -> Any:
    async with httpx2.AsyncClient(base_url=running.base_url, timeout=30) as client:
        return await client.post("/v2/notifications/email", json=body, headers=auth(key))


def file_value(content: bytes = PDF, **fields: Any) -> dict[str, Any]:
    return {"file": base64.b64encode(content).decode(), "filename": "report.pdf",
            "sending_method": "link", **fields}  # fmt: skip


def messages(r: Any) -> list[str]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status_code"] == 400
    return [e["message"] for e in body["errors"]]


async def test_link_file_becomes_a_download_url(running_engine: RunningEngine) -> None:
    recorder = record(running_engine)
    setup = await running_engine.create_service()
    r = await send_email(running_engine, setup["keys"]["normal"], {
        "email_address": "someone@example.com", "template_id": setup["email_template"],
        "personalisation": {"name": "Ada", "code": file_value()},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    await recorder.wait_for(r.json()["id"])  # sent: scanned clean, the link serves it
    body = r.json()["content"]["body"]
    prefix = f"{running_engine.base_url}/d/"
    assert prefix in body
    url = body[body.index(prefix) :].split()[0].rstrip(".")
    async with running_engine.client() as client:
        download = await client.get(url)
        missing = await client.get(f"/d/{uuid.uuid4()}")
        garbage = await client.get("/d/not-an-id")
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["error"] == "NoResultFound"
    assert garbage.status_code == 404
    [stored] = await sql.opened(
        running_engine.engine.store,
        "SELECT id, personalisation FROM notifications WHERE id = $1",
        uuid.UUID(r.json()["id"]),
    )
    assert "file" not in stored["personalisation"]
    assert url in stored["personalisation"]


async def test_expired_link_is_gone(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    r = await send_email(running_engine, setup["keys"]["normal"], {
        "email_address": "someone@example.com", "template_id": setup["email_template"],
        "personalisation": {"name": "Ada", "code": file_value()},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    store = running_engine.engine.store
    await sql.execute(
        store,
        "UPDATE documents SET expires_at = now() - interval '1 second' WHERE notification_id = $1",
        uuid.UUID(r.json()["id"]),
    )
    url = r.json()["content"]["body"].split(f"{running_engine.base_url}")[1].split()[0]
    async with running_engine.client() as client:
        expired = await client.get(url.rstrip("."))
    assert expired.status_code == 404
    await running_engine.engine.recovery.run_housekeeping()  # what recovery runs periodically
    left = await sql.fetch(
        store, "SELECT id FROM documents WHERE notification_id = $1", uuid.UUID(r.json()["id"])
    )
    assert left == []


async def test_attached_file_reaches_the_provider(running_engine: RunningEngine) -> None:
    recorder = record(running_engine)
    setup = await running_engine.create_service()
    r = await send_email(running_engine, setup["keys"]["normal"], {
        "email_address": "someone@example.com", "template_id": setup["email_template"],
        "personalisation": {"name": "Ada", "code": file_value(sending_method="attach")},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    assert "Your code is report.pdf." in r.json()["content"]["body"]
    sent = await recorder.wait_for(r.json()["id"])
    assert [(a.filename, a.content, a.mime_type) for a in sent.attachments] == [
        ("report.pdf", PDF, "application/pdf")
    ]


async def test_attachment_survives_a_rebuild_from_the_database(
    running_engine: RunningEngine,
) -> None:
    recorder = record(running_engine)
    setup = await running_engine.create_service()
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    r = await send_email(running_engine, setup["keys"]["normal"], {
        "email_address": "someone@example.com", "template_id": setup["email_template"],
        "personalisation": {"name": "Ada", "code": file_value(sending_method="attach")},
        "scheduled_for": due.isoformat(),
    })  # fmt: skip
    assert r.status_code == 201, r.text
    await trio.sleep((due - dt.datetime.now(dt.UTC)).total_seconds() + 0.05)
    running_engine.engine.recovery.wake()
    sent = await recorder.wait_for(r.json()["id"])
    assert [(a.filename, a.content) for a in sent.attachments] == [("report.pdf", PDF)]


async def test_simulated_recipient_gets_a_test_document_link(
    running_engine: RunningEngine,
) -> None:
    setup = await running_engine.create_service()
    r = await send_email(running_engine, setup["keys"]["normal"], {
        "email_address": "simulate-delivered@notification.canada.ca",
        "template_id": setup["email_template"],
        "personalisation": {"name": "Ada", "code": file_value()},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    assert f"{running_engine.base_url}/d/test-document" in r.json()["content"]["body"]


async def test_file_errors(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    key, template = setup["keys"]["normal"], setup["email_template"]

    def body(code: Any, **extra: Any) -> dict[str, Any]:
        return {"email_address": "someone@example.com", "template_id": template,
                "personalisation": {"name": "Ada", "code": code, **extra}}  # fmt: skip

    bad_padding = await send_email(running_engine, key, body({**file_value(), "file": "abc"}))
    assert messages(bad_padding) == ["code : Incorrect padding : Error decoding base64 field"]
    big = b"x" * (10 * 1024 * 1024 + 1)
    too_big = await send_email(running_engine, key, body(file_value(big)))
    assert messages(too_big) == [
        "code : File size for report.pdf is 10485761 and greater than allowed limit of 10485760."
    ]
    eleven = {f"f{i}": file_value() for i in range(11)}
    too_many = await send_email(running_engine, key, body(file_value(), **eleven))
    assert messages(too_many) == ["File number exceed allowed limits of 10 with number of 12."]
    method = await send_email(running_engine, key, body(file_value(sending_method="post")))
    assert messages(method) == [
        "personalisation code sending_method post is not one of [attach, link]"
    ]
    no_name = {"file": file_value()["file"], "sending_method": "attach"}
    unnamed = await send_email(running_engine, key, body(no_name))
    assert messages(unnamed) == ["personalisation code filename is a required property"]
    short = await send_email(running_engine, key, body(file_value(filename="ab")))
    assert messages(short) == ["personalisation code filename ab is too short"]
    async with httpx2.AsyncClient(base_url=running_engine.base_url, timeout=10) as client:
        sms = await client.post("/v2/notifications/sms", headers=auth(key), json={
            "phone_number": "+16135550123", "template_id": setup["sms_template"],
            "personalisation": {"code": file_value()},
        })  # fmt: skip
    assert messages(sms) == ["Can only send a file by email"]


async def test_one_click_unsubscribe_url(running_engine: RunningEngine) -> None:
    recorder = record(running_engine)
    setup = await running_engine.create_service()
    key, template = setup["keys"]["normal"], setup["email_template"]
    base = {"email_address": "someone@example.com", "template_id": template,
            "personalisation": {"name": "Ada", "code": "1"}}  # fmt: skip
    for bad in ("http://example.com/unsub", "not a url", "https://localhost/x",
                "https://example.com/a b"):  # fmt: skip
        r = await send_email(running_engine, key, {**base, "one_click_unsubscribe_url": bad})
        assert messages(r) == ["one_click_unsubscribe_url is not a valid https url"], bad
    url = "https://example.com/unsubscribe?u=42"
    r = await send_email(running_engine, key, {**base, "one_click_unsubscribe_url": url})
    assert r.status_code == 201, r.text
    sent = await recorder.wait_for(r.json()["id"])
    assert sent.unsubscribe_url == url
    stored = await sql.fetchrow(
        running_engine.engine.store,
        "SELECT unsubscribe_url FROM notifications WHERE id = $1",
        uuid.UUID(r.json()["id"]),
    )
    assert stored["unsubscribe_url"] == url


async def test_sanitise_content_for(running_engine: RunningEngine) -> None:
    recorder = record(running_engine)
    setup = await running_engine.create_service()
    value = "[click](https://evil.example.com) *now*"
    r = await send_email(running_engine, setup["keys"]["normal"], {
        "email_address": "someone@example.com", "template_id": setup["email_template"],
        "personalisation": {"name": value, "code": "a.b"},
        "sanitise_content_for": ["NAME"],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()
    shown = "[click](https: //evil. example. com) *now*"
    assert created["content"]["subject"] == f"Hello {shown}"
    assert f"Dear {shown}," in created["content"]["body"]
    assert "Your code is a.b." in created["content"]["body"]  # not named: untouched
    assert created["sanitised_content"] == {
        "name": {
            "unsanitised": value,
            "sanitised": r"\[click\]\(https: //evil\. example\. com\) \*now\*",
        }
    }
    sent = await recorder.wait_for(created["id"])
    assert "<a " not in sent.html
    assert "evil.example.com" not in sent.html


async def test_plain_send_has_no_sanitised_content(running_engine: RunningEngine) -> None:
    setup = await running_engine.create_service()
    r = await send_email(running_engine, setup["keys"]["normal"], {
        "email_address": "someone@example.com", "template_id": setup["email_template"],
        "personalisation": {"name": "Ada", "code": "1"},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    assert "sanitised_content" not in r.json()

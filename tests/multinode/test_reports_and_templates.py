"""Templates and reports through the API with two engine processes on one database
(issue 24): GC's 10 report requests an hour hold across processes, a report one process
makes is downloaded from the other, and a template one process writes is read and sent
by the other. Real processes, loopback only, every wait bounded."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator

import httpx2
import pytest
import trio

from engine.store.store import Store
from tests.api.test_reports import wait_ready
from tests.conftest import ADMIN_TOKEN
from tests.processes import engine_processes, setup_service

pytestmark = pytest.mark.slow

GENERAL = "207b293c-2ae5-48e8-836d-fcabd60b2153"


@pytest.fixture
async def urls(store: Store, database_url: str) -> AsyncIterator[list[str]]:
    with tempfile.TemporaryDirectory() as folder:
        async with engine_processes(database_url, folder, 2) as found:
            yield found


async def _key(url: str, sid: str) -> dict[str, str]:
    async with httpx2.AsyncClient(
        base_url=url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as admin:
        r = await admin.post(f"/admin/services/{sid}/api-keys", json={
            "name": "manager", "permissions": ["manage_templates", "manage_reports"],
        })  # fmt: skip
    assert r.status_code == 201, r.text
    return {"Authorization": f"ApiKey-v1 {r.json()['key']}"}


async def test_the_report_limit_and_the_reports_are_shared(urls: list[str]) -> None:
    _, key = await setup_service(urls[0], restricted=False)
    headers = await _key(urls[0], key[-73:-37])
    answers: list[int] = []
    body = {"report_type": "email", "language": "en"}

    async def request(url: str) -> None:
        async with httpx2.AsyncClient(base_url=url, timeout=20, headers=headers) as client:
            answers.append((await client.post("/v2/reports", json=body)).status_code)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for i in range(16):
                nursery.start_soon(request, urls[i % 2])
    assert sorted(answers) == [202] * 10 + [429] * 6

    async with (
        httpx2.AsyncClient(base_url=urls[0], timeout=10, headers=headers) as a,
        httpx2.AsyncClient(base_url=urls[1], timeout=10, headers=headers) as b,
    ):
        listed = (await b.get("/v2/reports")).json()["reports"]
        assert len(listed) == 10
        with trio.fail_after(30):
            for report in listed:
                await wait_ready(a, headers, report["id"])
                r = await b.get(f"/v2/reports/{report['id']}/content")
                assert r.status_code == 200, r.text
                assert r.text.startswith("Recipient,Template,Type,")


async def test_a_template_written_on_one_process_is_sent_by_the_other(urls: list[str]) -> None:
    _, key = await setup_service(urls[0], restricted=False)
    headers = await _key(urls[0], key[-73:-37])
    async with (
        httpx2.AsyncClient(base_url=urls[0], timeout=10, headers=headers) as a,
        httpx2.AsyncClient(base_url=urls[1], timeout=10, headers=headers) as b,
    ):
        r = await a.post("/v2/manage-template", json={
            "name": "n", "template_type": "email", "subject": "Hi", "content": "First",
            "template_category_id": GENERAL,
        })  # fmt: skip
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        # The other process reads it from the database at once.
        assert (await b.get(f"/v2/manage-template/{tid}")).json()["body"] == "First"
        r = await a.patch(f"/v2/manage-template/{tid}", json={"content": "Second"})
        assert r.json()["version"] == 2
        assert (await b.get(f"/v2/manage-template/{tid}")).json()["version"] == 2
        send = {"email_address": "someone@example.com", "template_id": tid}
        with trio.fail_after(5):  # the other process's cache hears of it within a second
            while True:
                sent = await b.post("/v2/notifications/email", json=send,
                                    headers={"Authorization": f"ApiKey-v1 {key}"})  # fmt: skip
                assert sent.status_code == 201, sent.text
                if sent.json()["content"]["body"] == "Second":
                    break
                await trio.sleep(0.1)
        assert uuid.UUID(sent.json()["template"]["id"]) == uuid.UUID(tid)

"""Files are safe to send (issue 25): scanned by a real clamd before sending, of GC's types
by content, never empty. Over real HTTP against a running engine, through to the final
status and the callback.

clamd is the tests' own (``tests/clamd_support.py``): its signatures match the EICAR test
string and ``OWN_FILE``, a PDF of ours."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx2
import pytest
import trio

from engine.http1.server import ServerLimits, serve
from tests import sql
from tests.actors.test_callbacks import Receiver
from tests.api.test_files_and_unsubscribe import Recorder, auth, messages, record
from tests.clamd_support import CLEAN_PDF, EICAR, OWN_FILE, Clamd
from tests.conftest import RunningEngine, serving_engine

CALLBACK_TOKEN = "callback-bearer-token-0123"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with trio.open_nursery() as nursery:
        shutdown = trio.Event()
        rec.port = await nursery.start(
            partial(serve, rec.app, host="127.0.0.1", port=0, shutdown=shutdown,
                    limits=ServerLimits(drain_seconds=1.0))
        )  # fmt: skip
        yield rec
        shutdown.set()


def file_value(content: bytes, method: str = "attach", filename: str = "report.pdf") -> Any:
    return {"file": base64.b64encode(content).decode(), "filename": filename,
            "sending_method": method}  # fmt: skip


async def setup_service(running: RunningEngine, receiver: Receiver | None = None) -> Any:
    setup = await running.create_service()
    if receiver is not None:
        async with running.admin() as admin:
            r = await admin.put(
                f"/admin/services/{setup['service']['id']}/callback",
                json={"url": receiver.url("/status"), "bearer_token": CALLBACK_TOKEN},
            )
            assert r.status_code == 200, r.text
    return setup


async def post(running: RunningEngine, setup: Any, code: Any) -> Any:
    body = {"email_address": "someone@example.com", "template_id": setup["email_template"],
            "personalisation": {"name": "Ada", "code": code}}  # fmt: skip
    async with httpx2.AsyncClient(base_url=running.base_url, timeout=30) as client:
        headers = auth(setup["keys"]["normal"])
        return await client.post("/v2/notifications/email", headers=headers, json=body)


async def status_of(running: RunningEngine, setup: Any, notification_id: str) -> str:
    async with running.client(headers=auth(setup["keys"]["normal"])) as client:
        r = await client.get(f"/v2/notifications/{notification_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def wait_status(running: RunningEngine, setup: Any, nid: str, *wanted: str) -> str:
    """Polls GET (the API has no status event to wait on)."""
    with trio.fail_after(30):
        while True:
            status = await status_of(running, setup, nid)
            if status in wanted:
                return status
            await trio.sleep(0.05)


async def wait_until(check: Any) -> None:
    with trio.fail_after(30):
        while True:
            if await check():
                return
            await trio.sleep(0.05)


async def ready(running: RunningEngine) -> Any:
    async with running.client() as client:
        r = await client.get("/_status/ready")
    assert r.status_code == 200, r.text
    return r.json()


def link_of(body: str, running: RunningEngine) -> str:
    prefix = f"{running.base_url}/d/"
    return body[body.index(prefix) :].split()[0].rstrip(".")


async def test_clean_files_are_scanned_then_sent(scanning_engine: RunningEngine) -> None:
    recorder = record(scanning_engine)
    setup = await setup_service(scanning_engine)
    r = await post(scanning_engine, setup, file_value(CLEAN_PDF))
    assert r.status_code == 201, r.text
    sent = await recorder.wait_for(r.json()["id"])
    assert [(a.filename, a.content, a.mime_type) for a in sent.attachments] == [
        ("report.pdf", CLEAN_PDF, "application/pdf")
    ]
    await wait_status(scanning_engine, setup, r.json()["id"], "delivered")
    [doc] = await sql.fetch(scanning_engine.engine.store, "SELECT scan FROM documents")
    assert doc["scan"] == "clean"


@pytest.mark.parametrize(("content", "method"), [(EICAR, "attach"), (OWN_FILE, "link")])
async def test_an_infected_file_ends_virus_scan_failed_with_a_callback(
    scanning_engine: RunningEngine, receiver: Receiver, content: bytes, method: str
) -> None:
    recorder = record(scanning_engine)
    setup = await setup_service(scanning_engine, receiver)
    name = "eicar.txt" if content == EICAR else "report.pdf"
    r = await post(scanning_engine, setup, file_value(content, method, name))
    assert r.status_code == 201, r.text
    nid = r.json()["id"]
    assert await wait_status(scanning_engine, setup, nid, "virus-scan-failed", "delivered") == (
        "virus-scan-failed"
    )
    await wait_until(lambda: _true(bool(_statuses(receiver))))
    [callback] = _statuses(receiver)
    assert callback["id"] == nid
    assert callback["status"] == "virus-scan-failed"
    assert callback["status_description"] == "Attachment has virus"
    assert not [m for m in recorder.sent if str(m.notification_id) == nid]
    store = scanning_engine.engine.store
    assert await sql.fetch(store, "SELECT id FROM documents") == []  # nobody may fetch it
    if method == "link":
        async with scanning_engine.client() as client:
            gone = await client.get(link_of(r.json()["content"]["body"], scanning_engine))
        assert gone.status_code == 404


def _statuses(receiver: Receiver) -> list[Any]:
    return [b for b in receiver.ok("/status") if "health_check" not in b]


async def _true(value: bool) -> bool:
    return value


async def _scanner_failing(running: RunningEngine) -> bool:
    return bool((await ready(running)).get("degraded"))


async def test_a_scanner_down_holds_the_file_until_it_is_back(
    scanning_engine: RunningEngine, clamd: Clamd
) -> None:
    recorder = record(scanning_engine)
    setup = await setup_service(scanning_engine)
    clamd.stop()
    r = await post(scanning_engine, setup, file_value(CLEAN_PDF, "link"))
    assert r.status_code == 201, r.text  # the API call does not wait for the scan
    nid = r.json()["id"]
    await wait_until(partial(_scanner_failing, scanning_engine))
    [problem] = (await ready(scanning_engine))["degraded"]
    assert problem.startswith("virus scanner unavailable")
    async with scanning_engine.client() as client:
        metrics = (await client.get("/metrics")).text
        held = await client.get(link_of(r.json()["content"]["body"], scanning_engine))
    assert "notify_virus_scanner_up 0.0" in metrics
    assert held.status_code == 404  # not scanned: nobody downloads it
    assert await status_of(scanning_engine, setup, nid) == "pending-virus-check"
    assert not recorder.sent
    clamd.start()
    await recorder.wait_for(nid)
    await wait_status(scanning_engine, setup, nid, "delivered")
    assert "degraded" not in await ready(scanning_engine)
    async with scanning_engine.client() as client:
        served = await client.get(link_of(r.json()["content"]["body"], scanning_engine))
    assert served.status_code == 200
    assert served.content == CLEAN_PDF


async def test_a_dead_owner_s_waiting_row_is_scanned_and_sent_once(
    scanning_engine: RunningEngine, clamd: Clamd
) -> None:
    """The row's owner is gone (a crashed process): the scanner claims it, and the job the
    old registration held in memory cannot send it (its writes are fenced)."""
    recorder = record(scanning_engine)
    setup = await setup_service(scanning_engine)
    clamd.stop()
    r = await post(scanning_engine, setup, file_value(CLEAN_PDF))
    assert r.status_code == 201, r.text
    nid = uuid.UUID(r.json()["id"])
    await wait_until(partial(_scanner_failing, scanning_engine))
    store = scanning_engine.engine.store
    await sql.execute(store, "UPDATE notifications SET owner = $1 WHERE id = $2",
                      uuid.uuid4(), nid)  # fmt: skip
    clamd.start()
    await recorder.wait_for(str(nid))
    await wait_status(scanning_engine, setup, str(nid), "delivered")
    assert [m.notification_id for m in recorder.sent] == [nid]


async def test_only_gc_file_types_by_content_and_never_empty(
    scanning_engine: RunningEngine,
) -> None:
    setup = await setup_service(scanning_engine)
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200)
    expected = (
        "Unsupported file type 'application/x-msdownload'. Supported types are: "
        "'pdf, csv, txt, doc, docx, jpeg, jpg, png, xls, xlsx, rtf, odt'"
    )
    for name in ("setup.exe", "report.pdf"):  # the name does not make it a PDF
        r = await post(scanning_engine, setup, file_value(exe, filename=name))
        assert messages(r) == [expected]
        assert r.json()["errors"][0]["error"] == "BadRequestError"
    empty = await post(scanning_engine, setup, file_value(b""))
    assert messages(empty) == ["personalisation code file is empty"]
    assert empty.json()["errors"][0]["error"] == "ValidationError"
    async with scanning_engine.client(headers={**auth(setup["keys"]["normal"]),
                                               "Accept-Language": "fr"}) as client:  # fmt: skip
        fr = await client.post("/v2/notifications/email", json={
            "email_address": "someone@example.com", "template_id": setup["email_template"],
            "personalisation": {"name": "Ada", "code": file_value(b"")}})  # fmt: skip
    assert messages(fr) == ["personalisation code file est un fichier vide"]
    csv = await post(scanning_engine, setup, file_value(b"a,b\n1,2\n", filename="rows.csv"))
    assert csv.status_code == 201, csv.text
    stored = await sql.fetch(scanning_engine.engine.store, "SELECT mime_type FROM documents")
    assert [d["mime_type"] for d in stored] == ["text/csv"]
    assert not await sql.fetch(
        scanning_engine.engine.store,
        "SELECT id FROM notifications WHERE status NOT IN ('pending-virus-check', 'created',"
        " 'sending', 'delivered')",
    )


async def test_without_a_scanner_files_are_refused_unless_the_operator_opts_out(
    aio_loop: None, database_url: str
) -> None:
    async with serving_engine(database_url, clamd_address="") as running:
        if running.engine.scanner is not None:
            pytest.skip("this machine runs Debian's clamav-daemon: the default finds it")
        setup = await setup_service(running)
        r = await post(running, setup, file_value(CLEAN_PDF))
        assert messages(r) == ["Files cannot be sent: this deployment has no virus scanner"]
    async with serving_engine(database_url, clamd_address="", files_without_scan=True) as running:
        recorder: Recorder = record(running)
        setup = await setup_service(running)
        r = await post(running, setup, file_value(CLEAN_PDF))
        assert r.status_code == 201, r.text
        await recorder.wait_for(r.json()["id"])
        [doc] = await sql.fetch(running.engine.store, "SELECT scan FROM documents")
        assert doc["scan"] == "unscanned"

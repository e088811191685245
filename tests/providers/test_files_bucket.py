"""Files in S3-compatible object storage (issue 25), against moto's server mode: sealed in
the bucket, served and attached in clear, gone with retention, expiry and a virus."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
import trio

from engine.store.sealing import MARK
from tests import sql
from tests.api.test_files_and_unsubscribe import auth, record
from tests.clamd_support import CLEAN_PDF, EICAR, Clamd
from tests.conftest import RunningEngine, serving_engine
from tests.providers.conftest import CREDENTIALS, REGION, AwsHarness

BUCKET = "notify-files-test"


@pytest.fixture
async def bucket_engine(
    aio_loop: None, database_url: str, clamd: Clamd, aws: AwsHarness,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RunningEngine]:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    s3 = aws.moto_client("s3")
    try:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    finally:
        s3.close()
    async with serving_engine(
        database_url, clamd_address=clamd.address, files_bucket=BUCKET,
        files_endpoint_url=aws.moto_url, aws_region=REGION,
    ) as running:  # fmt: skip
        yield running


def objects(aws: AwsHarness) -> dict[str, bytes]:
    s3 = aws.moto_client("s3")
    try:
        listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                for o in listed}  # fmt: skip
    finally:
        s3.close()


async def post(running: RunningEngine, setup: Any, content: bytes, method: str,
               **extra: Any) -> Any:  # fmt: skip
    value = {"file": base64.b64encode(content).decode(), "filename": "report.pdf",
             "sending_method": method}  # fmt: skip
    body = {"email_address": "someone@example.com", "template_id": setup["email_template"],
            "personalisation": {"name": "Ada", "code": value}, **extra}  # fmt: skip
    async with httpx2.AsyncClient(base_url=running.base_url, timeout=30) as client:
        r = await client.post("/v2/notifications/email", headers=auth(setup["keys"]["normal"]),
                              json=body)  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


async def wait_status(store: Any, notification_id: str, status: str) -> None:
    with trio.fail_after(30):
        while True:
            row = await sql.fetchrow(store, "SELECT status FROM notifications WHERE id = $1",
                                     uuid.UUID(notification_id))  # fmt: skip
            if row["status"] == status:
                return
            await trio.sleep(0.05)


async def test_files_are_sealed_in_the_bucket_and_sent_in_clear(
    bucket_engine: RunningEngine, aws: AwsHarness
) -> None:
    recorder = record(bucket_engine)
    setup = await bucket_engine.create_service()
    attached = await post(bucket_engine, setup, CLEAN_PDF, "attach")
    linked = await post(bucket_engine, setup, CLEAN_PDF, "link")
    sent = await recorder.wait_for(attached["id"])
    assert [a.content for a in sent.attachments] == [CLEAN_PDF]
    await recorder.wait_for(linked["id"])
    store = bucket_engine.engine.store
    rows = await sql.fetch(store, "SELECT id, service_id, content, object_key FROM documents")
    assert len(rows) == 2
    assert all(r["content"] is None for r in rows)
    assert {r["object_key"] for r in rows} == {f"{r['service_id']}/{r['id']}" for r in rows}
    stored = objects(aws)
    assert set(stored) == {r["object_key"] for r in rows}
    for sealed in stored.values():  # ciphertext only
        assert sealed.startswith(MARK.encode())
        assert CLEAN_PDF not in sealed
    url = linked["content"]["body"].split(bucket_engine.base_url)[1].split()[0].rstrip(".")
    async with bucket_engine.client() as client:
        download = await client.get(url)
    assert download.status_code == 200
    assert download.content == CLEAN_PDF


async def test_a_scheduled_attachment_is_read_back_from_the_bucket(
    bucket_engine: RunningEngine,
) -> None:
    recorder = record(bucket_engine)
    setup = await bucket_engine.create_service()
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    created = await post(bucket_engine, setup, CLEAN_PDF, "attach",
                         scheduled_for=due.isoformat())  # fmt: skip
    await trio.sleep((due - dt.datetime.now(dt.UTC)).total_seconds() + 0.05)
    bucket_engine.engine.recovery.wake()  # recovery rebuilds it from its row
    sent = await recorder.wait_for(created["id"])
    assert [a.content for a in sent.attachments] == [CLEAN_PDF]


async def test_objects_go_with_retention_and_with_a_virus(
    bucket_engine: RunningEngine, aws: AwsHarness
) -> None:
    recorder = record(bucket_engine)
    setup = await bucket_engine.create_service()
    kept = await post(bucket_engine, setup, CLEAN_PDF, "link")
    old = await post(bucket_engine, setup, CLEAN_PDF, "attach")
    infected = await post(bucket_engine, setup, EICAR, "attach")
    await recorder.wait_for(kept["id"])
    await recorder.wait_for(old["id"])
    store = bucket_engine.engine.store
    # Final first: the purge skips rows a status write holds (FOR UPDATE SKIP LOCKED).
    for created, final in ((kept, "delivered"), (old, "delivered"),
                           (infected, "virus-scan-failed")):  # fmt: skip
        await wait_status(store, created["id"], final)
    assert len(objects(aws)) == 3  # the infected one is listed, not yet deleted
    await sql.execute(store, "UPDATE notifications SET created_at = created_at - interval '30 days'"
                      " WHERE id = $1", uuid.UUID(old["id"]))  # fmt: skip
    await bucket_engine.engine.recovery.run_housekeeping()  # purge, then the bucket's turn
    [left] = await sql.fetch(store, "SELECT object_key FROM documents")
    assert set(objects(aws)) == {left["object_key"]}
    assert await sql.fetch(store, "SELECT object_key FROM document_objects_gone") == []
    # An expired file goes from the bucket too.
    await sql.execute(store, "UPDATE documents SET expires_at = now() - interval '1 second'")
    await bucket_engine.engine.recovery.run_housekeeping()
    assert objects(aws) == {}

"""SqsPoller against moto's SQS (server mode, loopback): receipts reach PostgreSQL through the
ReceiptsActor, and messages are deleted only after their receipts were committed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from typing import Any

import pytest
import trio

from engine.actors.receipts import ReceiptsActor
from engine.actors.sqs_poller import SqsPoller, receipts_from_body
from engine.providers.aws import client_config, open_client
from engine.providers.base import Receipt
from engine.providers.ses_events import EventError
from engine.store.notifications import StatusChange
from engine.store.store import Store
from tests import sql
from tests.providers.conftest import CREDENTIALS, AwsHarness, aws_session  # noqa: F401
from tests.store.test_store import make_row

MAIL = {"timestamp": "2026-11-23T09:00:00.000Z", "destination": ["someone@example.com"]}


def ses(kind: str, reference: str, **body: Any) -> dict[str, Any]:
    return {"eventType": kind, "mail": {**MAIL, "messageId": reference}, **body}


def envelope(event: dict[str, Any]) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m", "Message": json.dumps(event)})


SMS_RECORD = {
    "notification": {"messageId": "sns-ref", "timestamp": "2026-11-23 09:00:01.000"},
    "delivery": {"providerResponse": "Message has been accepted by phone carrier"},
    "status": "SUCCESS",
}


@pytest.fixture
def queue(aws_session: AwsHarness) -> Iterator[tuple[AwsHarness, str]]:  # noqa: F811
    aws_session.reset()
    client = aws_session.moto_client("sqs")
    try:
        url = client.create_queue(QueueName="receipts", Attributes={"VisibilityTimeout": "1"})[
            "QueueUrl"
        ]
        yield aws_session, url
    finally:
        client.close()


def send(harness: AwsHarness, url: str, bodies: Sequence[str]) -> None:
    client = harness.moto_client("sqs")
    try:
        for body in bodies:
            client.send_message(QueueUrl=url, MessageBody=body)
    finally:
        client.close()


def queue_counts(harness: AwsHarness, url: str) -> tuple[int, int]:
    client = harness.moto_client("sqs")
    try:
        attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    finally:
        client.close()
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def poller(harness: AwsHarness, url: str, submit: Any) -> SqsPoller:
    settings = harness.settings(receipts_sqs_queue_url=url)
    opener = partial(
        open_client, "sqs", settings, config=client_config(read_timeout=10), credentials=CREDENTIALS
    )
    return SqsPoller(settings, submit, opener=opener, wait_seconds=1)


async def wait_deleted(p: SqsPoller, count: int) -> None:
    for _ in range(500):
        if p.deleted >= count:
            return
        await trio.sleep(0.05)
    raise AssertionError(f"only {p.deleted} of {count} messages deleted")


@pytest.fixture
async def receipts_actor(store: Store) -> AsyncIterator[tuple[ReceiptsActor, list[Any]]]:
    seen: list[Any] = []

    async def on_changes(changes: Sequence[StatusChange]) -> None:
        seen.extend(changes)

    async def on_complaints(receipts: Sequence[Receipt]) -> None:
        seen.extend(receipts)

    actor = ReceiptsActor(store, on_changes, on_complaints)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        yield actor, seen
        nursery.cancel_scope.cancel()


async def test_receipts_are_committed_then_messages_deleted(
    store: Store,
    queue: tuple[AwsHarness, str],
    receipts_actor: tuple[ReceiptsActor, list[Any]],
) -> None:
    harness, url = queue
    actor, seen = receipts_actor
    delivered = make_row(status="sending")
    bounced = make_row(status="sending")
    sms = make_row(status="sent", notification_type="sms", recipient="+16135550100")
    await store.insert_notifications([delivered, bounced, sms])
    for row, reference in ((delivered, "ses-1"), (bounced, "ses-2"), (sms, "sns-ref")):
        await sql.execute(
            store,
            "UPDATE notifications SET provider_reference = $1 WHERE id = $2",
            reference,
            row.id,
        )
    bounce = {"bounceType": "Transient", "bounceSubType": "MailboxFull",
              "timestamp": "2026-11-23T09:00:02.000Z", "feedbackId": "f"}  # fmt: skip
    send(harness, url, [
        envelope(ses("Delivery", "ses-1", delivery={"timestamp": "2026-11-23T09:00:01Z"})),
        json.dumps(ses("Bounce", "ses-2", bounce=bounce)),  # raw message delivery
        envelope(SMS_RECORD),
        "garbage that can never be read",
    ])  # fmt: skip
    p = poller(harness, url, actor.submit)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(p.run)
            await wait_deleted(p, 4)
            nursery.cancel_scope.cancel()
    rows = await sql.fetch(
        store, "SELECT id, status, feedback_subtype FROM notifications ORDER BY created_at"
    )
    statuses = {r["id"]: (r["status"], r["feedback_subtype"]) for r in rows}
    assert statuses == {
        delivered.id: ("delivered", None),
        bounced.id: ("temporary-failure", "mailbox-full"),
        sms.id: ("delivered", None),
    }
    assert {c.id for c in seen} == {delivered.id, bounced.id, sms.id}
    assert queue_counts(harness, url) == (0, 0)


async def test_nothing_is_deleted_when_the_store_fails(queue: tuple[AwsHarness, str]) -> None:
    harness, url = queue
    send(harness, url, [envelope(ses("Delivery", "ses-x"))])
    attempts: list[int] = []

    async def failing_submit(receipts: Sequence[Receipt]) -> None:
        attempts.append(len(receipts))
        raise OSError("database unreachable")

    p = poller(harness, url, failing_submit)
    with trio.fail_after(30), pytest.raises(OSError, match="database unreachable"):
        await p.run()
    assert attempts == [1]
    assert p.deleted == 0
    # Still in the queue (in flight until the visibility timeout), so SQS redelivers it.
    assert sum(queue_counts(harness, url)) == 1

    applied: list[Receipt] = []

    async def submit(receipts: Sequence[Receipt]) -> None:
        applied.extend(receipts)

    again = poller(harness, url, submit)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(again.run)
            await wait_deleted(again, 1)
            nursery.cancel_scope.cancel()
    assert [r.reference for r in applied] == ["ses-x"]
    assert queue_counts(harness, url) == (0, 0)


def test_bodies_are_unwrapped_and_recognised() -> None:
    [a] = receipts_from_body(envelope(ses("Delivery", "r1")))
    [b] = receipts_from_body(json.dumps(ses("Delivery", "r2")))
    [c] = receipts_from_body(json.dumps(SMS_RECORD))
    assert [(r.reference, r.provider) for r in (a, b, c)] == [
        ("r1", "ses"),
        ("r2", "ses"),
        ("sns-ref", "sns"),
    ]
    assert receipts_from_body(json.dumps(ses("Open", "r3"))) == []
    for bad in ("[]", "{}", json.dumps({"Type": "Notification", "Message": 5})):
        with pytest.raises(EventError):
            receipts_from_body(bad)


async def test_engine_starts_the_poller_when_a_queue_is_configured(
    aio_loop: None,
    database_url: str,
    queue: tuple[AwsHarness, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.crypto import SecretBox
    from engine.runtime import open_engine
    from tests.conftest import reset_database, test_settings

    harness, url = queue
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    settings = test_settings(database_url, receipts_sqs_queue_url=url, aws_endpoint_url=harness.url)
    await reset_database(database_url)
    row = make_row(status="sending")
    async with open_engine(settings, SecretBox(settings.secret_key)) as engine:
        await engine.store.insert_notifications([row])
        await sql.execute(
            engine.store,
            "UPDATE notifications SET provider_reference = 'ses-engine' WHERE id = $1",
            row.id,
        )
        send(harness, url, [envelope(ses("Delivery", "ses-engine"))])
        with trio.fail_after(30):
            for _ in range(600):
                found = await sql.fetchrow(
                    engine.store, "SELECT status FROM notifications WHERE id = $1", row.id
                )
                if found["status"] == "delivered":
                    break
                await trio.sleep(0.05)
    assert found["status"] == "delivered"

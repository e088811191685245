"""Receipt endpoints over real sockets: signed SNS messages (certificate served by a loopback
server) move real notification rows in PostgreSQL, visible through GET /v2/notifications."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from engine.domain.notification import NotificationRow
from tests import sql
from tests.api.test_slice import jwt_header
from tests.conftest import RunningEngine, serving_engine
from tests.sns_support import (
    TOPIC_ARN,
    LoopbackHttp,
    make_signing_cert,
    notification,
    sign,
    subscription_confirmation,
)

KEY, PEM = make_signing_cert()
TEXT_PLAIN = {"Content-Type": "text/plain; charset=UTF-8"}


@pytest.fixture
async def sns_host() -> AsyncIterator[LoopbackHttp]:
    """Stands in for sns.<region>.amazonaws.com: the signing cert and the SubscribeURL."""
    server = LoopbackHttp({"/cert.pem": PEM, "/confirm": b"<ConfirmSubscriptionResponse/>"})
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield server
        nursery.cancel_scope.cancel()


@pytest.fixture
async def engine(
    aio_loop: None, database_url: str, sns_host: LoopbackHttp
) -> AsyncIterator[RunningEngine]:
    async with serving_engine(
        database_url, receipts_cert_hosts=f"{sns_host.base_url}/", receipts_topic_arns=TOPIC_ARN
    ) as running:
        yield running


async def insert_sent(
    running: RunningEngine, setup: dict[str, Any], channel: str, reference: str
) -> str:
    """A notification already handed to the provider: ``sending`` (email) or ``sent`` (SMS)."""
    notification_id = uuid.uuid4()
    row = NotificationRow(
        id=notification_id,
        service_id=uuid.UUID(setup["service"]["id"]),
        template_id=uuid.UUID(setup[f"{channel}_template"]),
        template_version=1,
        api_key_id=None,
        key_type="normal",
        notification_type=channel,
        recipient="someone@example.com" if channel == "email" else "+16135550100",
        status="sending" if channel == "email" else "sent",
        client_reference="client-ref-1",
        personalisation=None,
        subject="Hello" if channel == "email" else None,
        body="Body",
        reply_to_text=None,
        process_type="normal",
        billable_units=0 if channel == "email" else 1,
        job_id=None,
        job_row_number=None,
        scheduled_for=None,
        unsubscribe_url=None,
        created_at=dt.datetime.now(dt.UTC),
    )
    store = running.engine.store
    await store.insert_notifications([row])
    await sql.execute(
        store,
        "UPDATE notifications SET provider_reference = $1, sent_at = now() WHERE id = $2",
        reference,
        notification_id,
    )
    return str(notification_id)


def ses_event(kind: str, reference: str, **body: Any) -> str:
    mail = {"timestamp": "2026-11-23T09:00:00.000Z", "messageId": reference,
            "destination": ["someone@example.com"]}  # fmt: skip
    return json.dumps({"eventType": kind, "mail": mail, **body})


async def get_status(running: RunningEngine, key: str, notification_id: str) -> dict[str, Any]:
    async with running.client() as client:
        r = await client.get(f"/v2/notifications/{notification_id}", headers=jwt_header(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def wait_for(running: RunningEngine, key: str, notification_id: str, wanted: str) -> Any:
    with trio.fail_after(10):
        while True:
            body = await get_status(running, key, notification_id)
            if body["status"] == wanted:
                return body
            await trio.sleep(0.02)


async def post(running: RunningEngine, path: str, message: dict[str, Any]) -> Any:
    async with running.client() as client:
        return await client.post(path, content=json.dumps(message), headers=TEXT_PLAIN)


async def test_signed_ses_delivery_marks_the_notification_delivered(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    setup = await engine.create_service()
    notification_id = await insert_sent(engine, setup, "email", "ses-ref-delivered")
    event = ses_event("Delivery", "ses-ref-delivered",
                      delivery={"timestamp": "2026-11-23T09:00:01.000Z"})  # fmt: skip
    message = sign(notification(event, f"{sns_host.base_url}/cert.pem"), KEY)
    with trio.fail_after(10):
        r = await post(engine, "/notifications/receipts/ses", message)
    assert r.status_code == 200, r.text
    body = await wait_for(engine, setup["keys"]["normal"], notification_id, "delivered")
    assert body["completed_at"] is not None


async def test_bounce_and_sms_failure_carry_their_details(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    setup = await engine.create_service()
    key = setup["keys"]["normal"]
    email_id = await insert_sent(engine, setup, "email", "ses-ref-bounce")
    sms_id = await insert_sent(engine, setup, "sms", "sns-ref-1")
    bounce = ses_event("Bounce", "ses-ref-bounce", bounce={
        "bounceType": "Permanent", "bounceSubType": "Suppressed",
        "timestamp": "2026-11-23T09:00:02.000Z", "feedbackId": "f-1"})  # fmt: skip
    record = json.dumps({
        "notification": {"messageId": "sns-ref-1", "timestamp": "2026-11-23 09:00:03.000"},
        "delivery": {"providerResponse": "Phone carrier is currently unreachable/unavailable"},
        "status": "FAILURE",
    })  # fmt: skip
    cert = f"{sns_host.base_url}/cert.pem"
    with trio.fail_after(10):
        r1 = await post(
            engine, "/notifications/receipts/ses", sign(notification(bounce, cert), KEY)
        )
        r2 = await post(
            engine, "/notifications/receipts/sns", sign(notification(record, cert), KEY, "2")
        )
    assert (r1.status_code, r2.status_code) == (200, 200)
    await wait_for(engine, key, email_id, "permanent-failure")
    await wait_for(engine, key, sms_id, "temporary-failure")
    row = await sql.fetchrow(
        engine.engine.store,
        "SELECT feedback_type, feedback_subtype, provider_response FROM notifications"
        " WHERE id = $1",
        uuid.UUID(email_id),
    )
    assert dict(row) == {
        "feedback_type": "hard-bounce",
        "feedback_subtype": "suppressed",
        "provider_response": "The email address is on our email provider suppression list",
    }


async def test_complaint_is_recorded_once_without_a_status_change(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    setup = await engine.create_service()
    notification_id = await insert_sent(engine, setup, "email", "ses-ref-complaint")
    marker_id = await insert_sent(engine, setup, "email", "ses-ref-marker")
    complaint = {
        "timestamp": "2026-11-23T10:00:00.000Z",
        "complaintFeedbackType": "abuse",
        "feedbackId": "f-2",
        "complainedRecipients": [{"emailAddress": "someone@example.com"}],
    }
    event = ses_event("Complaint", "ses-ref-complaint", complaint=complaint)
    cert = f"{sns_host.base_url}/cert.pem"
    store = engine.engine.store
    with trio.fail_after(10):
        for _ in range(2):  # SNS delivers at least once
            r = await post(
                engine, "/notifications/receipts/ses", sign(notification(event, cert), KEY)
            )
            assert r.status_code == 200, r.text
        # The ReceiptsActor handles receipts in arrival order: once a later delivery has
        # landed, both complaint copies have been processed.
        marker = sign(notification(ses_event("Delivery", "ses-ref-marker"), cert), KEY)
        assert (await post(engine, "/notifications/receipts/ses", marker)).status_code == 200
    await wait_for(engine, setup["keys"]["normal"], marker_id, "delivered")
    rows = await sql.fetch(
        store, "SELECT notification_id, service_id, feedback_type FROM complaints"
    )
    assert [dict(r) for r in rows] == [{
        "notification_id": uuid.UUID(notification_id),
        "service_id": uuid.UUID(setup["service"]["id"]),
        "feedback_type": "abuse",
    }]  # fmt: skip
    body = await get_status(engine, setup["keys"]["normal"], notification_id)
    assert body["status"] == "sending"


async def test_subscription_confirmation_is_confirmed(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    subscribe = f"{sns_host.base_url}/confirm?Action=ConfirmSubscription&Token=abc"
    message = sign(subscription_confirmation(subscribe, f"{sns_host.base_url}/cert.pem"), KEY)
    with trio.fail_after(10):
        r = await post(engine, "/notifications/receipts/ses", message)
    assert r.status_code == 200, r.text
    assert "/confirm?Action=ConfirmSubscription&Token=abc" in sns_host.requests


async def test_subscribe_url_off_the_sns_host_is_never_called(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    message = sign(
        subscription_confirmation("http://127.0.0.1:9/steal", f"{sns_host.base_url}/cert.pem"),
        KEY,
    )
    with trio.fail_after(10):
        r = await post(engine, "/notifications/receipts/ses", message)
    assert r.status_code == 400
    assert all("steal" not in path for path in sns_host.requests)


async def test_bad_signature_is_403_and_changes_nothing(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    setup = await engine.create_service()
    key = setup["keys"]["normal"]
    forged_id = await insert_sent(engine, setup, "email", "ses-ref-forged")
    good_id = await insert_sent(engine, setup, "email", "ses-ref-good")
    cert = f"{sns_host.base_url}/cert.pem"
    original = sign(notification(ses_event("Delivery", "ses-ref-other"), cert), KEY)
    forged = {**original, "Message": ses_event("Delivery", "ses-ref-forged")}
    with trio.fail_after(10):
        r = await post(engine, "/notifications/receipts/ses", forged)
        assert r.status_code == 403
        assert r.json() == {"status_code": 403, "errors": [
            {"error": "AuthError", "message": "Invalid SNS message signature"}]}  # fmt: skip
        # A good receipt sent after the forged one goes through the same actor: once it has
        # landed, the forged one would have too.
        good = sign(notification(ses_event("Delivery", "ses-ref-good"), cert), KEY)
        assert (await post(engine, "/notifications/receipts/ses", good)).status_code == 200
    await wait_for(engine, key, good_id, "delivered")
    assert (await get_status(engine, key, forged_id))["status"] == "sending"


async def test_a_strangers_topic_is_refused(engine: RunningEngine, sns_host: LoopbackHttp) -> None:
    # Genuinely signed by SNS, but for a topic in someone else's account.
    stranger = notification(ses_event("Delivery", "r"), f"{sns_host.base_url}/cert.pem",
                            TopicArn="arn:aws:sns:ca-central-1:999999999999:theirs")  # fmt: skip
    with trio.fail_after(10):
        r = await post(engine, "/notifications/receipts/ses", sign(stranger, KEY))
    assert r.status_code == 403
    assert r.json()["errors"][0]["message"] == "SNS topic not allowed"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", json.dumps({"Type": "Notification"}).encode(),
     json.dumps({"Type": "Other", "Message": "x"}).encode()],
)  # fmt: skip
async def test_malformed_bodies_are_400(engine: RunningEngine, body: bytes) -> None:
    async with engine.client() as client:
        with trio.fail_after(10):
            r = await client.post("/notifications/receipts/sns", content=body, headers=TEXT_PLAIN)
    assert r.status_code == 400
    assert r.json()["errors"][0]["error"] == "BadRequestError"


async def test_signed_but_unreadable_event_is_400(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    message = sign(notification('{"eventType": "Delivery"}', f"{sns_host.base_url}/cert.pem"), KEY)
    with trio.fail_after(10):
        r = await post(engine, "/notifications/receipts/ses", message)
    assert r.status_code == 400
    assert "Invalid receipt event" in r.json()["errors"][0]["message"]


async def test_the_200_comes_after_the_status_is_committed(
    engine: RunningEngine, sns_host: LoopbackHttp
) -> None:
    """SNS forgets a message once we answer 2xx: by then the receipt must be durable."""
    setup = await engine.create_service()
    notification_id = await insert_sent(engine, setup, "email", "ses-ref-durable")
    event = ses_event("Delivery", "ses-ref-durable")
    message = sign(notification(event, f"{sns_host.base_url}/cert.pem"), KEY)
    with trio.fail_after(10):
        r = await post(engine, "/notifications/receipts/ses", message)
    assert r.status_code == 200, r.text
    row = await sql.fetchrow(
        engine.engine.store,
        "SELECT status FROM notifications WHERE id = $1",
        uuid.UUID(notification_id),
    )
    assert row["status"] == "delivered"

"""Two-way SMS end to end over real sockets (issue 24; cds-snc/notification-api #735, #809):
signed SNS messages carrying AWS's two-way SMS records (tests/sns_support.py signs them
with a certificate served on loopback) reach ``POST /notifications/inbound/sns``; the
texts come back through the official Python client's ``get_received_texts`` and plain
``GET /v2/received-text-messages`` (GC's shape and paging); STOP / ARRÊT opt a number out
(a send to it is a 400: our message, neither GC nor GOV.UK has the list), START / DÉBUT
back in, and each keyword is answered in both languages through the engine's pipeline;
numbers and texts are sealed at rest.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from notifications_python_client.notifications import NotificationsAPIClient

from engine.crypto import MARK
from engine.domain.inbound import HELP, OPT_IN, OPT_OUT, REPLIES, keyword
from engine.domain.team_mail import SYSTEM_SERVICE_ID
from tests import sql
from tests.actors.test_callbacks import Receiver, receiver  # noqa: F401 (fixture)
from tests.api.test_receipts import TEXT_PLAIN, sns_host  # noqa: F401 (fixture)
from tests.api.test_slice import jwt_header
from tests.conftest import RunningEngine, serving_engine
from tests.sns_support import TOPIC_ARN, LoopbackHttp, make_signing_cert, notification, sign

KEY, PEM = make_signing_cert()
OURS = "+16135550199"
THEM = "+16135550123"
PATH = "/notifications/inbound/sns"


@pytest.fixture
async def engine(
    aio_loop: None,
    database_url: str,
    sns_host: LoopbackHttp,  # noqa: F811
) -> AsyncIterator[RunningEngine]:
    sns_host.routes["/cert.pem"] = PEM
    async with serving_engine(
        database_url, receipts_cert_hosts=f"{sns_host.base_url}/", receipts_topic_arns=TOPIC_ARN
    ) as running:
        yield running


def test_keywords_ignore_case_accents_and_trailing_punctuation() -> None:
    for text in ("STOP", " stop ", "Arrêt.", "ARRET", "arret!"):
        assert keyword(text) == OPT_OUT, text
    for text in ("START", "Début", "DEBUT", "début"):
        assert keyword(text) == OPT_IN, text
    for text in ("help", "Aide?", "AIDE"):
        assert keyword(text) == HELP, text
    for text in ("stop sending me the old one", "STOPS", "", "Bonjour"):
        assert keyword(text) is None, text


async def _text(
    running: RunningEngine, host: LoopbackHttp, body: str, *, to: str = OURS, ref: str = ""
) -> Any:
    record = {
        "originationNumber": THEM, "destinationNumber": to, "messageKeyword": "KEYWORD_1",
        "messageBody": body, "inboundMessageId": ref or str(uuid.uuid4()),
        "previousPublishedMessageId": "wJ0c8bJrn9ELuh4Uf7bbGhJFdlxEdB0nBzvZXPb8",
    }  # fmt: skip
    message = sign(notification(json.dumps(record), f"{host.base_url}/cert.pem"), KEY)
    async with running.client() as client:
        return await client.post(PATH, content=json.dumps(message), headers=TEXT_PLAIN)


async def _send_sms(running: RunningEngine, made: dict[str, Any], **headers: str) -> Any:
    async with running.client() as client:
        return await client.post(
            "/v2/notifications/sms",
            json={"phone_number": THEM, "template_id": made["sms_template"],
                  "personalisation": {"code": "1"}},
            headers={**jwt_header(made["keys"]["normal"]), **headers},
        )  # fmt: skip


async def test_texts_are_stored_listed_and_stop_opts_out_until_start(
    engine: RunningEngine,
    sns_host: LoopbackHttp,  # noqa: F811
) -> None:
    made = await engine.create_service(restricted=False)
    sid = made["service"]["id"]
    with trio.fail_after(60):
        async with engine.admin() as admin:
            r = await admin.patch(f"/admin/services/{sid}", json={"inbound_number": "6135550199"})
            assert r.status_code == 200, r.text
            assert r.json()["inbound_number"] == OURS
        assert (await _send_sms(engine, made)).status_code == 201
        first = await _text(engine, sns_host, "Hello, is this the passport office?", ref="m-1")
        assert first.status_code == 200, first.text
        again = await _text(engine, sns_host, "Hello, is this the passport office?", ref="m-1")
        assert again.json()["result"] == "duplicate"
        stranger = await _text(engine, sns_host, "STOP", to="+16135550100")
        assert stranger.json()["result"] == "ignored"

        stop = await _text(engine, sns_host, "Arrêt")
        assert stop.json()["keyword"] == OPT_OUT
        refused = await _send_sms(engine, made)
        refused_fr = await _send_sms(engine, made, **{"Accept-Language": "fr"})
        start = await _text(engine, sns_host, "début")
        assert start.json()["keyword"] == OPT_IN
        assert (await _send_sms(engine, made)).status_code == 201

        # The official client (GC's and GOV.UK's get_received_texts) and plain HTTP.
        client = NotificationsAPIClient(made["keys"]["normal"], base_url=engine.base_url)
        listed = await trio.to_thread.run_sync(client.get_received_texts)
        async with engine.client() as http:
            older = listed["received_text_messages"][0]["id"]
            page = (await http.get(f"/v2/received-text-messages?older_than={older}",
                                   headers=jwt_header(made["keys"]["normal"]))).json()  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"] == [{"error": "BadRequestError", "message": (
        "This phone number has opted out of this service's text messages (it replied STOP or "
        "ARRET); it opts back in by replying START or DEBUT")}]  # fmt: skip
    assert refused_fr.json()["errors"][0]["message"].startswith("Ce numéro de téléphone")
    texts = listed["received_text_messages"]
    assert [t["content"] for t in texts] == [
        "début", "Arrêt", "Hello, is this the passport office?"
    ]  # fmt: skip
    assert {(t["user_number"], t["notify_number"], t["service_id"]) for t in texts} == {
        (THEM, OURS, sid)
    }
    assert set(texts[0]) == {
        "id", "created_at", "service_id", "notify_number", "user_number", "content"
    }  # fmt: skip
    assert texts[0]["created_at"].endswith("Z")
    assert listed["links"]["next"].endswith(f"older_than={texts[-1]['id']}")
    assert [t["content"] for t in page["received_text_messages"]] == [
        "Arrêt", "Hello, is this the passport office?"
    ]  # fmt: skip
    rows = await sql.fetch(engine.engine.store, "SELECT user_number, content FROM inbound_sms")
    assert all(r["user_number"].startswith(MARK) and r["content"].startswith(MARK) for r in rows)
    hashes = await sql.fetch(engine.engine.store, "SELECT number_hash FROM sms_opt_outs")
    assert hashes == []  # START removed it
    # Each keyword was answered in both languages, from the service's number, by the
    # system service through the pipeline (sent by the recovery sweep: it leaves created).
    store = engine.engine.store
    with trio.fail_after(30):
        while True:
            replies = await sql.opened(
                store, "SELECT * FROM notifications WHERE service_id = $1 ORDER BY created_at",
                SYSTEM_SERVICE_ID,
            )  # fmt: skip
            if len(replies) == 2 and all(r["status"] != "created" for r in replies):
                break
            await trio.sleep(0.2)
    assert [(r["recipient"], r["reply_to_text"], r["notification_type"]) for r in replies] == [
        (THEM, OURS, "sms")
    ] * 2
    assert {r["status"] for r in replies} <= {"sending", "sent", "delivered"}, replies
    assert replies[0]["body"].endswith(REPLIES[OPT_OUT])
    assert "Envoyez DEBUT" in replies[0]["body"]
    assert "Text START" in replies[0]["body"]
    assert replies[1]["body"].endswith(REPLIES[OPT_IN])


async def test_an_unsigned_inbound_text_is_refused(engine: RunningEngine) -> None:
    record = {"originationNumber": THEM, "destinationNumber": OURS, "messageBody": "STOP",
              "inboundMessageId": "x"}  # fmt: skip
    message = notification(json.dumps(record), "https://sns.ca-central-1.amazonaws.com/c.pem")
    async with engine.client() as client:
        r = await client.post(PATH, content=json.dumps(message), headers=TEXT_PLAIN)
    assert r.status_code == 403, r.text
    assert await sql.fetch(engine.engine.store, "SELECT id FROM inbound_sms") == []


async def test_an_inbound_sms_callback_carries_gc_fields(
    engine: RunningEngine,
    sns_host: LoopbackHttp,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    made = await engine.create_service(restricted=False)
    sid = made["service"]["id"]
    with trio.fail_after(60):
        async with engine.admin() as admin:
            r = await admin.patch(f"/admin/services/{sid}", json={"inbound_number": OURS})
            assert r.status_code == 200, r.text
            r = await admin.put(f"/admin/services/{sid}/callback", json={
                "url": receiver.url("/inbound"), "bearer_token": "x" * 12,
                "callback_type": "inbound_sms"})  # fmt: skip
            assert r.status_code == 200, r.text
        sent = await _text(engine, sns_host, "Je serai en retard, merci")
        assert sent.status_code == 200, sent.text
        for _ in range(1000):  # the receiver records it; the callback poll is 1 s
            if [b for b in receiver.ok("/inbound") if "id" in b]:  # (after the health check)
                break
            await trio.sleep(0.05)
    [body] = [b for b in receiver.ok("/inbound") if "id" in b]
    assert set(body) == {"id", "source_number", "destination_number", "message", "date_received"}
    assert body["id"] == sent.json()["id"]
    assert (body["source_number"], body["destination_number"]) == (THEM, OURS)
    assert body["message"] == "Je serai en retard, merci"
    assert body["date_received"].endswith("Z")

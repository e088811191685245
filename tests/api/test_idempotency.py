"""Idempotency-Key on the v2 POSTs (issue 24), in one engine over real sockets: a retry
gets the first answer and sends nothing twice; another request under the same key is a
422; a key still held by another request is a 409; an error frees the key; keys are per
API key; the stored answer commits with its notification or not at all; rows expire
after 24 h. The messages are ours (the IETF draft names the status codes, not the text:
neither GC nor GOV.UK has the header). Two processes: tests/multinode/test_idempotency.py.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import trio

from engine.crypto import MARK
from engine.store.idempotency import Answer, Claimed, ClaimLost
from tests import sql
from tests.api.test_slice import jwt_header
from tests.conftest import RunningEngine

EMAIL = "/v2/notifications/email"


def _email(made: dict[str, Any], code: str = "1") -> dict[str, Any]:
    return {
        "email_address": "someone@example.com",
        "template_id": made["email_template"],
        "personalisation": {"name": "Ada", "code": code},
    }


async def _count(running: RunningEngine, sid: str) -> int:
    rows = await sql.fetch(
        running.engine.store, "SELECT count(*) AS n FROM notifications WHERE service_id = $1",
        uuid.UUID(sid),
    )  # fmt: skip
    return int(rows[0]["n"])


def _errors(r: Any, status: int) -> list[tuple[str, str]]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status_code"] == status
    return [(e["error"], e["message"]) for e in body["errors"]]


async def test_a_retry_gets_the_first_answer_and_sends_nothing_twice(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid, key = made["service"]["id"], made["keys"]["normal"]
    async with running_engine.client() as client:
        with trio.fail_after(30):
            headers = {**jwt_header(key), "Idempotency-Key": '"order-42"'}
            first = await client.post(EMAIL, json=_email(made), headers=headers)
            assert first.status_code == 201, first.text
            assert "idempotent-replayed" not in first.headers
            again = await client.post(EMAIL, json=_email(made), headers=headers)
            # A new token (JWT iat) and the bare form of the key: still the same request.
            bare = {**jwt_header(key), "Idempotency-Key": "order-42"}
            third = await client.post(EMAIL, json=_email(made), headers=bare)
    for r in (again, third):
        assert r.status_code == 201
        assert r.content == first.content
        assert r.headers["idempotent-replayed"] == "true"
    assert await _count(running_engine, sid) == 1
    # The stored answer holds the message: sealed at rest.
    rows = await sql.fetch(running_engine.engine.store, "SELECT response FROM idempotency_keys")
    assert [bytes(r["response"]).startswith(MARK.encode()) for r in rows] == [True]


async def test_the_same_key_for_another_request_is_a_422_in_both_languages(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid, key = made["service"]["id"], made["keys"]["normal"]
    async with running_engine.client() as client:
        with trio.fail_after(30):
            headers = {**jwt_header(key), "Idempotency-Key": "k-1"}
            assert (await client.post(EMAIL, json=_email(made), headers=headers)).status_code == 201
            other = await client.post(EMAIL, json=_email(made, code="2"), headers=headers)
            fr = {**jwt_header(key), "Idempotency-Key": "k-1", "Accept-Language": "fr"}
            other_fr = await client.post(EMAIL, json=_email(made, code="2"), headers=fr)
            bad = await client.post(EMAIL, json=_email(made), headers={
                **jwt_header(key), "Idempotency-Key": "x" * 256})  # fmt: skip
    assert _errors(other, 422) == [
        ("IdempotencyKeyReused", "This Idempotency-Key was already used for a different request")
    ]
    assert _errors(other_fr, 422) == [
        ("IdempotencyKeyReused", "Cette Idempotency-Key a déjà servi pour une autre requête")
    ]
    assert _errors(bad, 400) == [
        ("BadRequestError", "Idempotency-Key must be 1 to 255 printable ASCII characters")
    ]
    assert await _count(running_engine, sid) == 1


async def test_a_key_held_by_a_request_in_flight_is_a_409_and_an_error_frees_it(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid, key = made["service"]["id"], made["keys"]["normal"]
    store = running_engine.engine.store
    key_row = await sql.fetchrow(
        store, "SELECT id FROM api_keys WHERE service_id = $1 AND key_type = 'normal'",
        uuid.UUID(sid),
    )  # fmt: skip
    async with running_engine.client() as client:
        with trio.fail_after(30):
            # Another process holds "busy" (its request is in flight): same request, 409.
            body = json.dumps(_email(made)).encode()
            same = hashlib.sha256(b"POST " + EMAIL.encode() + b"\n" + body).digest()
            held = await store.idempotency.claim(uuid.UUID(sid), key_row["id"], "busy", same)
            assert isinstance(held, Claimed)
            headers = {**jwt_header(key), "Idempotency-Key": "busy"}
            typed = {**headers, "Content-Type": "application/json"}
            busy = await client.post(EMAIL, content=body, headers=typed)
            # Its holder died: after the lease, the key is ours.
            await sql.execute(
                store, "UPDATE idempotency_keys SET claimed_at = now() - interval '10 minutes'"
            )
            taken = await client.post(EMAIL, json=_email(made), headers=headers)
            # An error answer is not stored: the key is free for the corrected request.
            headers = {**jwt_header(key), "Idempotency-Key": "typo"}
            wrong = {**_email(made), "template_id": str(uuid.uuid4())}
            refused = await client.post(EMAIL, json=wrong, headers=headers)
            fixed = await client.post(EMAIL, json=_email(made), headers=headers)
            # Keys are per API key: the same key from the test key is another request.
            test_key = {**jwt_header(made["keys"]["test"]), "Idempotency-Key": "typo"}
            other_key = await client.post(EMAIL, json=_email(made), headers=test_key)
    assert _errors(busy, 409) == [
        ("ConflictError",
         "A request with this Idempotency-Key is still being processed: retry it later")
    ]  # fmt: skip
    assert taken.status_code == 201, taken.text
    assert refused.status_code == 400, refused.text
    assert fixed.status_code == 201, fixed.text
    assert other_key.status_code == 201, other_key.text
    assert other_key.json()["id"] != fixed.json()["id"]
    assert await _count(running_engine, sid) == 3


async def test_a_lost_claim_writes_neither_the_notification_nor_the_answer(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid, key = made["service"]["id"], made["keys"]["normal"]
    store = running_engine.engine.store
    async with running_engine.client() as client:
        with trio.fail_after(30):
            r = await client.post(EMAIL, json=_email(made), headers=jwt_header(key))
            assert r.status_code == 201, r.text
    row = (await sql.opened(store, "SELECT * FROM notifications WHERE service_id = $1",
                            uuid.UUID(sid)))[0]  # fmt: skip
    service_id, key_id = row["service_id"], row["api_key_id"]
    slow = await store.idempotency.claim(service_id, key_id, "k", b"f")
    assert isinstance(slow, Claimed)
    # The slow holder's lease lapses and another request takes the key over.
    thief = await store.idempotency.claim(service_id, key_id, "k", b"f", lease=0)
    assert isinstance(thief, Claimed)
    from engine.domain.notification import NotificationRow

    fields = {f: row[f] for f in NotificationRow.__struct_fields__ if f in row}
    copy = NotificationRow(**{**fields, "id": uuid.uuid4()})
    answer = Answer(service_id, key_id, "k", slow.token, 201, b"{}")
    with trio.fail_after(30):
        try:
            await store.insert_notifications([copy], answer)
        except ClaimLost:
            pass
        else:
            raise AssertionError("the lost claim's notification was committed")
    assert await _count(running_engine, sid) == 1
    left = await sql.fetch(store, "SELECT token, status FROM idempotency_keys")
    assert [(r["token"], r["status"]) for r in left] == [(thief.token, None)]


async def test_keys_older_than_a_day_are_purged(running_engine: RunningEngine) -> None:
    store = running_engine.engine.store
    sid, kid = uuid.uuid4(), uuid.uuid4()
    for name in ("old", "new"):
        assert isinstance(await store.idempotency.claim(sid, kid, name, b"f"), Claimed)
    await sql.execute(
        store, "UPDATE idempotency_keys SET claimed_at = now() - interval '25 hours'"
        " WHERE key = 'old'",
    )  # fmt: skip
    assert await store.idempotency.purge_expired() == 1
    left = await sql.fetch(store, "SELECT key FROM idempotency_keys")
    assert [r["key"] for r in left] == ["new"]


async def test_every_v2_post_documents_the_header_and_its_answers(
    running_engine: RunningEngine,
) -> None:
    async with running_engine.client() as client:
        document = (await client.get("/v2/openapi")).json()
    posts = {p: item["post"] for p, item in document["paths"].items() if "post" in item}
    assert "/v2/notifications/email" in posts
    for path, post in posts.items():
        assert "Idempotency-Key" in [p["name"] for p in post["parameters"]], path
        assert {"409", "422"} <= set(post["responses"]), path

"""SNS provider: the pure request builder, then aiobotocore really talking to moto (server
mode) through the fault-injecting proxy in conftest."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs

import pytest
import trio

from engine.domain.notification import SmsMessage
from engine.providers.base import SendResult
from engine.providers.sns import build_publish_request, open_sns, parse_publish_response
from tests.providers.conftest import CREDENTIALS, AwsHarness


def make_sms(n: int = 0, **fields: Any) -> SmsMessage:
    values: dict[str, Any] = {
        "notification_id": uuid.uuid4(),
        "service_id": uuid.UUID(int=1),
        "to": f"+1613555{n:04d}",
        "body": f"Your code is {n:06d}",
        "sender": None,
    }
    values.update(fields)
    return SmsMessage(**values)


# -- pure ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        (None, {}),
        ("GCNotify", {"AWS.SNS.SMS.SenderID": "GCNotify"}),
        ("+16135550000", {"AWS.MM.SMS.OriginationNumber": "+16135550000"}),
        ("12345", {"AWS.MM.SMS.OriginationNumber": "12345"}),
    ],
)
def test_publish_request_attributes(sender: str | None, expected: dict[str, str]) -> None:
    message = make_sms(7, sender=sender)
    request = build_publish_request(message)
    assert request["PhoneNumber"] == "+16135550007"
    assert request["Message"] == "Your code is 000007"
    attributes = {k: v["StringValue"] for k, v in request["MessageAttributes"].items()}
    assert {k: v["DataType"] for k, v in request["MessageAttributes"].items()} == dict.fromkeys(
        attributes, "String"
    )
    assert attributes == {"AWS.SNS.SMS.SMSType": "Transactional", **expected}


def test_publish_response_without_message_id_is_retryable() -> None:
    message = make_sms()
    assert parse_publish_response(message, {}).outcome == "retryable"
    ok = parse_publish_response(message, {"MessageId": "abc"})
    assert (ok.outcome, ok.reference, ok.status) == ("accepted", "abc", "sent")


# -- against moto ----------------------------------------------------------------------
async def send(aws: AwsHarness, messages: list[SmsMessage], **kwargs: Any) -> list[SendResult]:
    with trio.fail_after(60):
        async with open_sns(aws.settings(), credentials=CREDENTIALS, **kwargs) as provider:
            assert provider.channel == "sms"
            return await provider.send_batch(messages)


def publishes(aws: AwsHarness) -> list[dict[str, list[str]]]:
    forms = [parse_qs(r.body.decode()) for r in aws.proxy.requests() if r.method == "POST"]
    return [f for f in forms if f.get("Action") == ["Publish"]]


def attributes(form: dict[str, list[str]]) -> dict[str, str]:
    names = {k.split(".")[2]: v[0] for k, v in form.items() if k.endswith(".Name")}
    values = {k.split(".")[2]: v[0] for k, v in form.items() if k.endswith(".Value.StringValue")}
    return {names[i]: values[i] for i in names}


async def test_publish_batch_is_recorded_by_moto(aws: AwsHarness) -> None:
    messages = [make_sms(i, sender="GCNotify" if i % 2 else "+16135550000") for i in range(25)]
    results = await send(aws, messages, concurrency=5)
    assert [r.notification_id for r in results] == [m.notification_id for m in messages]
    assert {(r.outcome, r.status) for r in results} == {("accepted", "sent")}
    recorded = {m["message_id"]: m for m in aws.moto_data()["sns"]["SMS"]}
    assert len(recorded) == 25
    for message, result in zip(messages, results, strict=True):
        assert result.reference is not None
        assert recorded[result.reference]["phone_number"] == message.to
        assert recorded[result.reference]["message"] == message.body
    # moto does not keep message attributes: read them from the wire.
    by_number = {f["PhoneNumber"][0]: attributes(f) for f in publishes(aws)}
    assert by_number[messages[1].to] == {
        "AWS.SNS.SMS.SMSType": "Transactional",
        "AWS.SNS.SMS.SenderID": "GCNotify",
    }
    assert by_number[messages[2].to] == {
        "AWS.SNS.SMS.SMSType": "Transactional",
        "AWS.MM.SMS.OriginationNumber": "+16135550000",
    }


async def test_invalid_number_is_rejected_others_accepted(aws: AwsHarness) -> None:
    messages = [make_sms(0), make_sms(1, to="555-CALL-NOW"), make_sms(2)]
    results = await send(aws, messages)
    assert [r.outcome for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1].detail is not None
    assert "E164" in results[1].detail
    assert len(aws.moto_data()["sns"]["SMS"]) == 2


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (400, "Throttling", "throttled"),
        (400, "Throttled", "throttled"),
        (500, "InternalError", "retryable"),
        (503, "ServiceUnavailable", "retryable"),
        (400, "InvalidParameter", "rejected"),
    ],
)
async def test_injected_errors_are_mapped(
    aws: AwsHarness, status: int, code: str, outcome: str
) -> None:
    first, second = make_sms(0), make_sms(1)
    aws.proxy.sns_error(1, status, code, "injected", match=first.to[1:].encode())
    results = await send(aws, [first, second])
    assert [r.outcome for r in results] == [outcome, "accepted"]
    assert results[0].detail == f"{code}: injected"
    # One attempt per message: retries belong to the ProviderActor.
    assert len(publishes(aws)) == 2
    assert len(aws.moto_data()["sns"]["SMS"]) == 1

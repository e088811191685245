"""SES provider: pure builders/parsers, then aiobotocore really talking to moto (server mode)
through the fault-injecting proxy in conftest."""

from __future__ import annotations

import email
import json
import uuid
from email.policy import default as default_policy
from typing import Any

import pytest
import trio
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from engine.domain.notification import Attachment, EmailMessage
from engine.providers.aws import classify, describe
from engine.providers.base import SendResult
from engine.providers.ses import (
    BULK_STATUS,
    build_bulk_request,
    build_mime,
    build_raw_request,
    open_ses,
    parse_bulk_response,
    plan,
    sender_address,
)
from tests.providers.conftest import BULK_PATH, CREDENTIALS, SES_DOMAIN, AwsHarness

FROM = f"Test Service <test.service@{SES_DOMAIN}>"


def make_email(n: int = 0, **fields: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "notification_id": uuid.uuid4(),
        "service_id": uuid.UUID(int=1),
        "to": f"person{n}@example.org",
        "from_address": FROM,
        "reply_to": None,
        "subject": f"Subject {n} & more",
        "html": f"<p>Hello <b>person {n}</b> &amp; co</p>",
        "text": f"Hello person {n} & co",
    }
    values.update(fields)
    return EmailMessage(**values)


# -- pure ------------------------------------------------------------------------------
def test_plan_groups_by_sender_and_reply_to_in_chunks_of_50() -> None:
    messages = [make_email(i) for i in range(120)]
    messages[3] = make_email(3, reply_to="help@example.org")
    messages[7] = make_email(7, attachments=(Attachment(filename="a.txt", content=b"x"),))
    groups, raw = plan(messages, "bulk")
    assert raw == [7]
    assert sorted(len(g) for g in groups) == [1, 18, 50, 50]
    assert [3] in groups
    assert sorted(i for g in groups for i in g) == [i for i in range(120) if i != 7]


def test_plan_single_mode_sends_everything_raw() -> None:
    groups, raw = plan([make_email(i) for i in range(3)], "single")
    assert (groups, raw) == ([], [0, 1, 2])


def test_bulk_request_carries_each_entry_and_unsubscribe_headers() -> None:
    first = make_email(1, reply_to="help@example.org")
    second = make_email(2, reply_to="help@example.org", unsubscribe_url="https://u.example/x")
    request = build_bulk_request([first, second], "config-set")
    assert request["FromEmailAddress"] == FROM
    assert request["ReplyToAddresses"] == ["help@example.org"]
    assert request["ConfigurationSetName"] == "config-set"
    content = request["DefaultContent"]["Template"]["TemplateContent"]
    assert content == {"Subject": "{{{subject}}}", "Html": "{{{html}}}", "Text": "{{{text}}}"}
    entries = request["BulkEmailEntries"]
    assert [e["Destination"]["ToAddresses"] for e in entries] == [[first.to], [second.to]]
    data = json.loads(
        entries[1]["ReplacementEmailContent"]["ReplacementTemplate"]["ReplacementTemplateData"]
    )
    assert data == {"subject": second.subject, "html": second.html, "text": second.text}
    assert "ReplacementHeaders" not in entries[0]
    assert entries[1]["ReplacementHeaders"] == [
        {"Name": "List-Unsubscribe", "Value": "<https://u.example/x>"},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
    ]


def test_non_ascii_sender_name_is_mime_encoded() -> None:
    encoded = sender_address(f"Notification GC – Sérvice <a@{SES_DOMAIN}>")
    assert encoded.isascii()
    assert encoded.endswith(f"<a@{SES_DOMAIN}>")
    assert str(email.header.make_header(email.header.decode_header(encoded))).startswith(
        "Notification GC – Sérvice"
    )


def test_mime_has_alternatives_attachment_and_unsubscribe() -> None:
    message = make_email(
        1,
        subject="Avis – été",
        reply_to="help@example.org",
        unsubscribe_url="https://u.example/x",
        attachments=(Attachment(filename="r.pdf", content=b"%PDF-1", mime_type="application/pdf"),),
    )
    raw = build_mime(message)
    assert raw.isascii()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"] == "Avis – été"
    assert parsed["Reply-To"] == "help@example.org"
    assert parsed["List-Unsubscribe"] == "<https://u.example/x>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = parsed.get_body(("html",))
    assert body is not None
    assert body.get_content().splitlines() == message.html.splitlines()
    text = parsed.get_body(("plain",))
    assert text is not None
    assert text.get_content().splitlines() == message.text.splitlines()
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "r.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1"
    request = build_raw_request(message)
    assert "ConfigurationSetName" not in request
    sent = email.message_from_bytes(request["Content"]["Raw"]["Data"], policy=default_policy)
    assert sent["List-Unsubscribe"] == "<https://u.example/x>"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("ACCOUNT_THROTTLED", "throttled"),
        ("TRANSIENT_FAILURE", "retryable"),
        ("MESSAGE_REJECTED", "rejected"),
        ("MAIL_FROM_DOMAIN_NOT_VERIFIED", "rejected"),
        ("SOMETHING_NEW", "retryable"),
    ],
)
def test_bulk_entry_status_mapping(status: str, outcome: str) -> None:
    messages = [make_email(0), make_email(1)]
    response = {
        "BulkEmailEntryResults": [
            {"Status": "SUCCESS", "MessageId": "m-0"},
            {"Status": status, "Error": "why"},
        ]
    }
    ok, other = parse_bulk_response(messages, response)
    assert (ok.outcome, ok.reference, ok.status) == ("accepted", "m-0", "sending")
    assert other.outcome == outcome
    assert other.notification_id == messages[1].notification_id
    assert other.detail == f"{status}: why"
    assert BULK_STATUS.get(status, "retryable") == outcome


def test_missing_entry_results_are_retryable() -> None:
    [result] = parse_bulk_response([make_email()], {"BulkEmailEntryResults": []})
    assert result.outcome == "retryable"


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("TooManyRequestsException", 429, "throttled"),
        ("Throttling", 400, "throttled"),
        ("MaxSendingRateExceeded", 400, "throttled"),
        ("InternalFailure", 500, "retryable"),
        ("ServiceUnavailable", 503, "retryable"),
        ("", 502, "retryable"),
        ("AccessDeniedException", 403, "retryable"),
        ("MessageRejected", 400, "rejected"),
        ("MailFromDomainNotVerifiedException", 400, "rejected"),
        ("AccountSuspendedException", 400, "rejected"),
        ("BadRequestException", 400, "rejected"),
    ],
)
def test_error_classification(code: str, status: int, outcome: str) -> None:
    assert classify(code, status) == outcome


def test_describe_real_botocore_exceptions() -> None:
    throttled = ClientError(
        {
            "Error": {"Code": "TooManyRequestsException", "Message": "slow"},
            "ResponseMetadata": {"HTTPStatusCode": 429, "HTTPHeaders": {"retry-after": "3"}},
        },
        "SendBulkEmail",
    )
    assert describe(throttled) == ("throttled", "TooManyRequestsException: slow", 3.0)
    outcome, detail, after = describe(EndpointConnectionError(endpoint_url="http://x"))
    assert (outcome, after) == ("retryable", None)
    assert detail.startswith("EndpointConnectionError")
    assert describe(ParamValidationError(report="bad"))[0] == "rejected"


# -- against moto ----------------------------------------------------------------------
async def send(
    aws_env: AwsHarness, messages: list[EmailMessage], **settings: Any
) -> list[SendResult]:
    with trio.fail_after(60):
        async with open_ses(aws_env.settings(**settings), credentials=CREDENTIALS) as provider:
            return await provider.send_batch(messages)


def sent_messages(aws_env: AwsHarness) -> list[dict[str, Any]]:
    return list(aws_env.moto_data()["ses"]["Message"])


def raw_messages(aws_env: AwsHarness) -> list[email.message.EmailMessage]:
    return [
        email.message_from_string(m["raw_data"], policy=default_policy)  # type: ignore[misc]
        for m in aws_env.moto_data()["ses"]["RawMessage"]
    ]


async def test_bulk_send_of_120_takes_three_calls(aws: AwsHarness) -> None:
    messages = [make_email(i) for i in range(120)]
    results = await send(aws, messages, ses_configuration_set="cs-1")
    assert [r.notification_id for r in results] == [m.notification_id for m in messages]
    assert {r.outcome for r in results} == {"accepted"}
    assert {r.status for r in results} == {"sending"}
    assert len({r.reference for r in results}) == 120
    calls = aws.proxy.requests(BULK_PATH)
    assert sorted(len(json.loads(c.body)["BulkEmailEntries"]) for c in calls) == [20, 50, 50]
    assert {json.loads(c.body)["ConfigurationSetName"] for c in calls} == {"cs-1"}
    recorded = {m["id"]: m for m in sent_messages(aws)}
    assert len(recorded) == 120
    for message, result in zip(messages, results, strict=True):
        assert result.reference is not None
        sent = recorded[result.reference]
        assert sent["destinations"]["ToAddresses"] == [message.to]
        assert sent["subject"] == message.subject
        assert sent["body"] == message.html
        assert sent["source"] == FROM


async def test_a_full_batch_from_four_services_fills_four_calls(aws: AwsHarness) -> None:
    # Four services sending at once interleave in the ProviderActor's batch; each sender's
    # share must still fill whole SendBulkEmail calls, not a call of ~12 per sender.
    senders = [f"Service {n} <service{n}@{SES_DOMAIN}>" for n in range(4)]
    async with open_ses(aws.settings(), credentials=CREDENTIALS) as provider:
        messages = [make_email(i, from_address=senders[i % 4]) for i in range(provider.max_batch)]
        with trio.fail_after(60):
            results = await provider.send_batch(messages)
    assert [r.outcome for r in results] == ["accepted"] * len(messages)
    calls = [json.loads(c.body) for c in aws.proxy.requests(BULK_PATH)]
    assert sorted(len(c["BulkEmailEntries"]) for c in calls) == [50, 50, 50, 50]
    assert sorted(sender_address(s) for s in senders) == sorted(
        c["FromEmailAddress"] for c in calls
    )


async def test_reply_to_splits_calls_and_unsubscribe_rides_in_headers(aws: AwsHarness) -> None:
    messages = [
        make_email(0, reply_to="a@example.org"),
        make_email(1, reply_to="b@example.org", unsubscribe_url="https://u.example/1"),
        make_email(2, reply_to="a@example.org"),
    ]
    results = await send(aws, messages)
    assert [r.outcome for r in results] == ["accepted"] * 3
    calls = [json.loads(c.body) for c in aws.proxy.requests(BULK_PATH)]
    by_reply_to = {c["ReplyToAddresses"][0]: c["BulkEmailEntries"] for c in calls}
    assert sorted(by_reply_to) == ["a@example.org", "b@example.org"]
    assert [e["Destination"]["ToAddresses"][0] for e in by_reply_to["a@example.org"]] == [
        messages[0].to,
        messages[2].to,
    ]
    [entry] = by_reply_to["b@example.org"]
    assert {"Name": "List-Unsubscribe", "Value": "<https://u.example/1>"} in entry[
        "ReplacementHeaders"
    ]


async def test_attachments_go_raw_with_unsubscribe_headers(aws: AwsHarness) -> None:
    plain = make_email(0)
    attached = make_email(
        1,
        unsubscribe_url="https://u.example/1",
        attachments=(Attachment(filename="doc.txt", content=b"file body", mime_type="text/plain"),),
    )
    results = await send(aws, [plain, attached])
    assert [r.outcome for r in results] == ["accepted", "accepted"]
    assert len(aws.proxy.requests(BULK_PATH)) == 1
    [raw] = raw_messages(aws)
    assert raw["To"] == attached.to
    assert raw["Subject"] == attached.subject
    assert raw["List-Unsubscribe"] == "<https://u.example/1>"
    assert raw["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [attachment] = list(raw.iter_attachments())
    assert attachment.get_filename() == "doc.txt"
    assert attachment.get_content() == "file body"
    stored = aws.moto_data()["ses"]["RawMessage"]
    assert results[1].reference == stored[0]["id"]


async def test_single_mode_sends_raw_mime_per_message(aws: AwsHarness) -> None:
    messages = [make_email(i, reply_to="help@example.org") for i in range(3)]
    results = await send(aws, messages, ses_mode="single")
    assert [r.outcome for r in results] == ["accepted"] * 3
    assert aws.proxy.requests(BULK_PATH) == []
    raws = raw_messages(aws)
    assert sorted(r["Subject"] for r in raws) == sorted(m.subject for m in messages)
    assert {r["Reply-To"] for r in raws} == {"help@example.org"}
    for raw in raws:
        body = raw.get_body(("html",))
        assert body is not None
        assert "<b>person" in body.get_content()


@pytest.mark.parametrize("mode", ["bulk", "single"])
async def test_unverified_sender_is_rejected(aws: AwsHarness, mode: str) -> None:
    message = make_email(0, from_address="someone@unverified.example")
    [result] = await send(aws, [message], ses_mode=mode)
    assert result.outcome == "rejected"
    assert result.detail is not None
    assert "unverified.example" in result.detail
    assert sent_messages(aws) == []


async def test_invalid_recipient_is_rejected_others_accepted(aws: AwsHarness) -> None:
    messages = [make_email(0), make_email(1, to="not-an-address"), make_email(2)]
    results = await send(aws, messages, ses_mode="single")
    assert [r.outcome for r in results] == ["accepted", "rejected", "accepted"]


async def test_whole_call_throttling_marks_every_message(aws: AwsHarness) -> None:
    aws.proxy.ses_error(1, 429, "TooManyRequestsException", "Maximum sending rate exceeded.")
    messages = [make_email(i) for i in range(5)]
    results = await send(aws, messages)
    assert [r.outcome for r in results] == ["throttled"] * 5
    assert results[0].detail == "TooManyRequestsException: Maximum sending rate exceeded."
    # One attempt only: retries belong to the ProviderActor.
    assert len(aws.proxy.requests(BULK_PATH)) == 1
    assert sent_messages(aws) == []


async def test_throttling_carries_retry_after(aws: AwsHarness) -> None:
    aws.proxy.fail_next(
        1,
        429,
        b'{"message": "slow down"}',
        {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": "TooManyRequestsException",
            "Retry-After": "2",
        },
    )
    [result] = await send(aws, [make_email()], ses_mode="single")
    assert (result.outcome, result.retry_after) == ("throttled", 2.0)


async def test_server_error_is_retryable_then_recovers(aws: AwsHarness) -> None:
    aws.proxy.ses_error(1, 500, "InternalFailure")
    messages = [make_email(i) for i in range(3)]
    first = await send(aws, messages)
    assert [r.outcome for r in first] == ["retryable"] * 3
    second = await send(aws, messages)
    assert [r.outcome for r in second] == ["accepted"] * 3


async def test_per_entry_failures_are_mapped_per_message(aws: AwsHarness) -> None:
    messages = [make_email(i) for i in range(4)]
    aws.proxy.state.entry_status[messages[1].to] = "ACCOUNT_THROTTLED"
    aws.proxy.state.entry_status[messages[2].to] = "TRANSIENT_FAILURE"
    results = await send(aws, messages)
    assert [r.outcome for r in results] == ["accepted", "throttled", "retryable", "accepted"]
    assert len(sent_messages(aws)) == 2


async def test_unreachable_endpoint_is_retryable(aws: AwsHarness) -> None:
    # A port that was just free: nothing listens there.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = await send(
        aws, [make_email(0), make_email(1)], aws_endpoint_url=f"http://127.0.0.1:{port}"
    )
    assert [r.outcome for r in results] == ["retryable", "retryable"]
    assert results[0].detail is not None
    assert "EndpointConnectionError" in results[0].detail


# -- wired into the engine -------------------------------------------------------------
async def test_engine_sends_through_ses_and_sns(
    aws: AwsHarness, aio_loop: None, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.test_slice import jwt_header
    from tests.conftest import serving_engine

    # The engine takes AWS credentials from the default chain, as in production.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    overrides = {
        "email_providers": "ses",
        "sms_providers": "sns",
        "aws_endpoint_url": aws.url,
        "aws_region": "ca-central-1",
        "notify_email_domain": SES_DOMAIN,
    }
    with trio.fail_after(60):
        async with serving_engine(database_url, **overrides) as running:
            assert {"ses-email", "sns-sms"} <= set(running.engine.providers)
            setup = await running.create_service()
            headers = jwt_header(setup["keys"]["normal"])
            async with running.client() as client:
                email_post = await client.post(
                    "/v2/notifications/email",
                    json={
                        "email_address": "someone@example.org",
                        "template_id": setup["email_template"],
                        "personalisation": {"name": "Ada", "code": "1234"},
                    },
                    headers=headers,
                )
                assert email_post.status_code == 201, email_post.text
                sms_post = await client.post(
                    "/v2/notifications/sms",
                    json={
                        "phone_number": "+16135550123",
                        "template_id": setup["sms_template"],
                        "personalisation": {"code": "4321"},
                    },
                    headers=headers,
                )
                assert sms_post.status_code == 201, sms_post.text
                wanted = {email_post.json()["id"]: "sending", sms_post.json()["id"]: "sent"}
                seen: dict[str, str] = {}
                while seen != wanted:
                    await trio.sleep(0.05)
                    for nid in wanted:
                        r = await client.get(f"/v2/notifications/{nid}", headers=headers)
                        seen[nid] = r.json()["status"]
    data = aws.moto_data()
    [sent] = data["ses"]["Message"]
    assert sent["subject"] == "Hello Ada"
    assert sent["destinations"]["ToAddresses"] == ["someone@example.org"]
    assert "Your code is 1234." in sent["body"]
    [sms] = data["sns"]["SMS"]
    assert (sms["phone_number"], sms["message"]) == ("+16135550123", "Test service: Code: 4321")

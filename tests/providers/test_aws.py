"""The SES and SNS providers through AwsHttpSession (engine/http1/aws_session.py) against
moto in server mode, via the conftest proxy: the session as the providers really use it."""

from __future__ import annotations

import uuid

import trio

from engine.domain.notification import EmailMessage, SmsMessage
from engine.http1.aws_session import AwsHttpSession
from engine.providers.aws import client_config
from engine.providers.ses import open_ses
from engine.providers.sns import open_sns
from tests.providers.conftest import BULK_PATH, CREDENTIALS, SES_DOMAIN, AwsHarness


def sms(n: int = 0) -> SmsMessage:
    return SmsMessage(notification_id=uuid.uuid4(), service_id=uuid.UUID(int=1),
                      to=f"+1613555{n:04d}", body=f"code {n}", sender=None)  # fmt: skip


def email(n: int = 0) -> EmailMessage:
    return EmailMessage(notification_id=uuid.uuid4(), service_id=uuid.UUID(int=1),
                        to=f"person{n}@example.org", from_address=f"svc@{SES_DOMAIN}",
                        reply_to=None, subject=f"Subject {n}", html=f"<p>{n}</p>",
                        text=f"{n}")  # fmt: skip


async def test_ses_bulk_and_single_and_sns_publish_go_through_it(aws: AwsHarness) -> None:
    assert client_config().http_session_cls is AwsHttpSession
    with trio.fail_after(60):
        async with open_ses(aws.settings(), credentials=CREDENTIALS) as ses:
            bulk = await ses.send_batch([email(i) for i in range(30)])
        async with open_ses(aws.settings(ses_mode="single"), credentials=CREDENTIALS) as ses:
            single = await ses.send_batch([email(100), email(101)])
        async with open_sns(aws.settings(), credentials=CREDENTIALS) as sns:
            published = await sns.send_batch([sms(1), sms(2), sms(3)])
    assert [r.outcome for r in bulk + single + published] == ["accepted"] * 35
    data = aws.moto_data()
    assert len(data["ses"]["Message"]) == 30
    assert len(data["ses"]["RawMessage"]) == 2
    assert len(data["sns"]["SMS"]) == 3
    [call] = aws.proxy.requests(BULK_PATH)
    assert call.headers["Content-Length"] == str(len(call.body))
    assert "Transfer-Encoding" not in call.headers
    assert call.headers["Accept-Encoding"] == "identity"
    assert call.headers["Host"] == aws.url.removeprefix("http://")

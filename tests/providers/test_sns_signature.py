"""SNS signature verification against a real certificate served from a loopback server."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from engine.providers.sns_signature import (
    SignatureError,
    SnsVerifier,
    cert_url_allowed,
    string_to_sign,
    url_allowed,
)
from tests.sns_support import (
    LoopbackHttp,
    make_signing_cert,
    notification,
    sign,
    subscription_confirmation,
)

KEY, PEM = make_signing_cert()
OTHER_KEY, _ = make_signing_cert()


@pytest.fixture
async def cert_server() -> Any:
    server = LoopbackHttp({"/SimpleNotificationService-test.pem": PEM, "/junk.pem": b"junk"})
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield server
        nursery.cancel_scope.cancel()


def verifier(server: LoopbackHttp) -> SnsVerifier:
    return SnsVerifier(extra_prefixes=[f"{server.base_url}/"])


def cert_url(server: LoopbackHttp) -> str:
    return f"{server.base_url}/SimpleNotificationService-test.pem"


@pytest.mark.parametrize("version", ["1", "2"])
async def test_signed_notification_verifies(cert_server: LoopbackHttp, version: str) -> None:
    v = verifier(cert_server)
    message = sign(notification(json.dumps({"a": 1}), cert_url(cert_server)), KEY, version)
    with trio.fail_after(10):
        await v.verify(message)
        await v.verify(sign(notification("second", cert_url(cert_server)), KEY, version))
    assert v.fetches == 1  # cached
    assert cert_server.requests == ["/SimpleNotificationService-test.pem"]


async def test_subject_and_subscription_confirmation_verify(cert_server: LoopbackHttp) -> None:
    v = verifier(cert_server)
    url = cert_url(cert_server)
    with trio.fail_after(10):
        await v.verify(sign(notification("m", url, Subject="Amazon SES Email Event"), KEY))
        await v.verify(sign(subscription_confirmation(f"{url}?confirm", url), KEY, "2"))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: {**m, "Message": m["Message"] + " "},
        lambda m: {**m, "TopicArn": "arn:aws:sns:ca-central-1:999999999999:evil"},
        lambda m: {**m, "Subject": "added later"},
        lambda m: {**m, "SignatureVersion": "2"},
        lambda m: {**m, "SignatureVersion": "3"},
        lambda m: {**m, "Signature": "!!not base64!!"},
        lambda m: {k: v for k, v in m.items() if k != "Signature"},
        lambda m: sign({k: v for k, v in m.items() if k != "Signature"}, OTHER_KEY),
    ],
)
async def test_tampered_messages_fail(cert_server: LoopbackHttp, tamper: Any) -> None:
    v = verifier(cert_server)
    good = sign(notification("the message", cert_url(cert_server)), KEY)
    with trio.fail_after(10):
        await v.verify(good)
        with pytest.raises(SignatureError):
            await v.verify(tamper(good))


async def test_cert_url_outside_the_allow_list_is_never_fetched(
    cert_server: LoopbackHttp,
) -> None:
    v = SnsVerifier()  # no extra prefixes: the loopback server is not an SNS host
    with trio.fail_after(10), pytest.raises(SignatureError, match="SigningCertURL"):
        await v.verify(sign(notification("m", cert_url(cert_server)), KEY))
    assert cert_server.requests == []


@pytest.mark.parametrize("path", ["/missing.pem", "/junk.pem"])
async def test_unusable_certificates_fail(cert_server: LoopbackHttp, path: str) -> None:
    v = verifier(cert_server)
    with trio.fail_after(10), pytest.raises(SignatureError):
        await v.verify(sign(notification("m", cert_server.base_url + path), KEY))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://sns.ca-central-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("http://sns.ca-central-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.ca-central-1.amazonaws.com.evil.example/x.pem", False),
        ("https://evil.example/sns.ca-central-1.amazonaws.com/x.pem", False),
        ("https://user@sns.ca-central-1.amazonaws.com/x.pem", False),
        ("https://sns.ca-central-1.amazonaws.com:8443/x.pem", False),
        ("https://sns.ca-central-1.amazonaws.com/x.txt", False),
        ("https://s3.ca-central-1.amazonaws.com/x.pem", False),
    ],
)
def test_cert_url_rule(url: str, allowed: bool) -> None:
    assert cert_url_allowed(url) is allowed


def test_subscribe_url_rule_and_prefixes() -> None:
    assert url_allowed("https://sns.ca-central-1.amazonaws.com/?Action=ConfirmSubscription")
    assert not url_allowed("http://127.0.0.1:9/confirm")
    assert url_allowed("http://127.0.0.1:9/confirm", ["http://127.0.0.1:9/"])


def test_string_to_sign_follows_the_documented_key_order() -> None:
    message = notification("hello", "https://example")
    assert (
        string_to_sign(message)
        == (
            f"Message\nhello\nMessageId\n{message['MessageId']}\n"
            f"Timestamp\n{message['Timestamp']}\nTopicArn\n{message['TopicArn']}\n"
            "Type\nNotification\n"
        ).encode()
    )
    with pytest.raises(SignatureError):
        string_to_sign({**message, "Type": "Other"})

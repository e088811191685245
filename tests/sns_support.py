"""Test helpers for SNS messages: a signing certificate, real signatures, and a tiny loopback
HTTP server that serves the certificate PEM and records SubscribeURL confirmations."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from engine.providers.sns_signature import string_to_sign

TOPIC_ARN = "arn:aws:sns:ca-central-1:123456789012:ses-receipts"


def make_signing_cert() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.ca-central-1.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sign(message: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1") -> dict[str, Any]:
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signed = {**message, "SignatureVersion": version}
    signature = key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed


def notification(message: str, cert_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": "2026-11-23T09:00:00.000Z",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.ca-central-1.amazonaws.com/?Action=Unsubscribe",
        **extra,
    }


def subscription_confirmation(subscribe_url: str, cert_url: str) -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de",
        "TopicArn": TOPIC_ARN,
        "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-23T09:00:00.000Z",
        "SigningCertURL": cert_url,
    }


class LoopbackHttp:
    """Answers GET requests on 127.0.0.1 from a path -> body table; records request paths."""

    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes = routes
        self.requests: list[str] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            data = b""
            with trio.move_on_after(5):
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        return
                    data += chunk
            target = data.split(b" ", 2)[1].decode() if data.count(b" ") >= 2 else "/"
            self.requests.append(target)
            body = self.routes.get(target.split("?", 1)[0])
            status = b"200 OK" if body is not None else b"404 Not Found"
            body = body if body is not None else b"not found"
            await stream.send_all(
                b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n" + body
            )  # fmt: skip

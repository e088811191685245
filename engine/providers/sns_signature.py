"""Verify the signature of an SNS HTTP(S) message before trusting it.

Rules (AWS "Verifying the signatures of Amazon SNS messages"):
- The signed text is ``Key\\nValue\\n`` for a fixed, sorted list of keys: for a
  ``Notification`` Message, MessageId, Subject (only when present), Timestamp, TopicArn,
  Type; for ``SubscriptionConfirmation`` / ``UnsubscribeConfirmation`` Message, MessageId,
  SubscribeURL, Timestamp, Token, TopicArn, Type.
- ``SignatureVersion`` 1 is RSA PKCS#1 v1.5 over SHA1, 2 over SHA256. Anything else fails.
- The certificate comes from ``SigningCertURL``, which must be https on
  ``sns.<region>.amazonaws.com`` (or ``.amazonaws.com.cn``) and end in ``.pem``. Tests and
  private installs may allow extra URL prefixes (``NOTIFY_RECEIPTS_CERT_HOSTS``); nothing
  else is ever fetched, so a forged message cannot make the engine call an arbitrary URL.
  The same rule guards ``SubscribeURL`` before a subscription is confirmed.
- Certificates are cached by URL (bounded, least recently used dropped first); an expired
  certificate is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx2
import trio
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")  # fmt: skip
SIGNED_KEYS = {
    "Notification": NOTIFICATION_KEYS,
    "SubscriptionConfirmation": SUBSCRIPTION_KEYS,
    "UnsubscribeConfirmation": SUBSCRIPTION_KEYS,
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
MAX_CERT_BYTES = 64 * 1024

Fetch = Callable[[str], Awaitable[bytes]]


class SignatureError(Exception):
    """The message is not provably from SNS."""


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    kind = message.get("Type")
    keys = SIGNED_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        raise SignatureError(f"unsigned message type {kind!r}")
    parts: list[str] = []
    for key in keys:
        value = message.get(key)
        if value is None:
            if key == "Subject":
                continue
            raise SignatureError(f"missing {key}")
        if not isinstance(value, str):
            raise SignatureError(f"{key} is not a string")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode()


def parse_prefixes(configured: str) -> tuple[str, ...]:
    """``NOTIFY_RECEIPTS_CERT_HOSTS``: comma separated URL prefixes."""
    return tuple(p.strip() for p in configured.split(",") if p.strip())


def url_allowed(url: str, extra_prefixes: Iterable[str] = ()) -> bool:
    """Is ``url`` an SNS endpoint (https, ``sns.<region>.amazonaws.com``) or allow-listed?"""
    if any(url.startswith(prefix) for prefix in extra_prefixes):
        return True
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and port in (None, 443)
        and _SNS_HOST.match(parts.hostname or "") is not None
    )


def cert_url_allowed(url: str, extra_prefixes: Iterable[str] = ()) -> bool:
    prefixes = tuple(extra_prefixes)
    if any(url.startswith(prefix) for prefix in prefixes):
        return True
    return url_allowed(url) and urlsplit(url).path.endswith(".pem")


def verify_with_key(public_key: rsa.RSAPublicKey, message: Mapping[str, Any]) -> None:
    """Raise SignatureError unless ``message`` was signed by ``public_key``. Pure."""
    version = str(message.get("SignatureVersion", "1"))
    algorithm = _HASHES.get(version)
    if algorithm is None:
        raise SignatureError(f"unsupported SignatureVersion {version!r}")
    encoded = message.get("Signature")
    if not isinstance(encoded, str):
        raise SignatureError("missing Signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("Signature is not base64") from None
    try:
        public_key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise SignatureError("signature does not match") from None


def load_public_key(pem: bytes, now: dt.datetime) -> rsa.RSAPublicKey:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SignatureError("signing certificate is not a PEM certificate") from None
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureError("signing certificate is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("signing certificate does not hold an RSA key")
    return key


async def fetch_url(url: str) -> bytes:
    """GET ``url`` (no redirects: the allow-list check was on this exact URL)."""
    async with httpx2.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        response = await client.get(url)
    if response.status_code != 200:
        raise SignatureError(f"signing certificate fetch answered {response.status_code}")
    if len(response.content) > MAX_CERT_BYTES:
        raise SignatureError("signing certificate is too large")
    return response.content


class SnsVerifier:
    """Verifies SNS messages; owns the certificate cache. ``fetch`` is the I/O seam."""

    def __init__(
        self,
        *,
        extra_prefixes: Iterable[str] = (),
        fetch: Fetch | None = None,
        cache_size: int = 16,
    ) -> None:
        self.extra_prefixes = tuple(extra_prefixes)
        self._fetch = fetch or fetch_url
        self._cache: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._cache_size = cache_size
        self._lock = trio.Lock()
        self.fetches = 0

    async def verify(self, message: Mapping[str, Any]) -> None:
        url = message.get("SigningCertURL") or message.get("SigningCertUrl")
        if not isinstance(url, str) or not cert_url_allowed(url, self.extra_prefixes):
            raise SignatureError("SigningCertURL is not an SNS certificate URL")
        verify_with_key(await self.public_key(url), message)

    async def public_key(self, url: str) -> rsa.RSAPublicKey:
        key = self._cache.get(url)
        if key is not None:
            self._cache.move_to_end(url)
            return key
        # One fetch at a time: a burst of first messages must not fetch the same cert N times.
        async with self._lock:
            key = self._cache.get(url)
            if key is not None:
                return key
            try:
                with trio.fail_after(15):
                    pem = await self._fetch(url)
            except (httpx2.HTTPError, httpx2.InvalidURL, trio.TooSlowError) as exc:
                raise SignatureError(f"could not fetch the signing certificate: {exc}") from None
            self.fetches += 1
            key = load_public_key(pem, dt.datetime.now(dt.UTC))
            self._cache[url] = key
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return key

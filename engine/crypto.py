"""Secrets at rest: API key secrets and callback bearer tokens are stored encrypted.

JWT verification needs the plain secret, so it cannot be hashed. Fernet (AES-128-CBC +
HMAC-SHA256, from `cryptography`) gives authenticated encryption with a key derived from
``NOTIFY_SECRET_KEY``; a wrong key fails loudly instead of returning garbage.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 16:
            raise ValueError("NOTIFY_SECRET_KEY must be at least 16 characters")
        digest = hashlib.sha256(b"notify-engine/secret-box/v1" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt a stored secret: is NOTIFY_SECRET_KEY right?") from exc

    def __repr__(self) -> str:
        return "SecretBox(***)"


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)

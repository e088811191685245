"""Secrets at rest: API key secrets and callback bearer tokens are stored encrypted
(``SecretBox``); personal data is sealed with the data keys (``DataKeys``, rules below).

JWT verification needs the plain secret, so it cannot be hashed. Fernet (AES-128-CBC +
HMAC-SHA256, from `cryptography`) gives authenticated encryption with a key derived from
``NOTIFY_SECRET_KEY``; a wrong key fails loudly instead of returning garbage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


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


# -- personal data at rest ------------------------------------------------------------------
# Rules:
# - Personal data (recipients, personalisation, rendered content, files, team contacts) is
#   sealed with AES-256-GCM (``cryptography``'s AESGCM) under a data key. The keys come
#   from NOTIFY_DATA_KEYS (comma separated; the first writes, every one reads) or, when it
#   is unset, from NOTIFY_SECRET_KEY alone. Each entry is stretched with HKDF-SHA256 under
#   its own info label (never the SecretBox's), so listing NOTIFY_SECRET_KEY's value as an
#   entry reads what was written without NOTIFY_DATA_KEYS: rotation needs no flag day.
# - A sealed value names its key: ``MARK + key id (8 chars) + base64(nonce | ciphertext |
#   tag)`` as text, ``MARK + key id + nonce | ciphertext | tag`` as bytes. The key id is an
#   HMAC of the key, so it says nothing of the key. A value without the mark is a legacy
#   clear value (written before encryption) and is read as it is; a marked value that does
#   not open (wrong key, tampered, swapped) raises ``SealError``, never returns garbage.
# - The caller binds each value to its place with associated data (the row's id and the
#   column), so a sealed value copied onto another row or column does not open.
# - Nonces are 96 random bits (drawn 1,024 at a time: one os.urandom call cost ~2 us on a
#   loaded 2-core machine, as much as the cipher itself). Random nonces bound a key to
#   ~2^32 seals (NIST SP 800-38D): about a billion notifications at 4 sealed columns each;
#   rotate well before (README, "Personal data at rest").
# - Cost (cryptography 51, OpenSSL 3, loaded 2-core machine): AESGCM.encrypt of 20-100
#   bytes ~1.3 us; ChaCha20Poly1305 ~3 us, AES-GCM-SIV ~6 us. AES-GCM it is.

MARK = "\x01"  # never the first character of a clear recipient, body or file we accept
MARK_BYTES = MARK.encode()
_DATA_INFO = b"notify-engine/data-at-rest/aes-256-gcm/v1"
_ID_CHARS = 8
_NONCE = 12
_NONCES_PER_DRAW = 1024


class SealError(ValueError):
    """A sealed value that cannot be opened: unknown key, tampered, or bound elsewhere."""


def data_key_entries(secret_key: str, data_keys: str) -> list[str]:
    """The key entries in force: NOTIFY_DATA_KEYS's (first writes), else NOTIFY_SECRET_KEY."""
    entries = [k.strip() for k in data_keys.split(",") if k.strip()]
    return entries or [secret_key]


class DataKeys:
    """The data keys: ``seal`` with the first, ``open`` with whichever a value names."""

    def __init__(self, entries: Sequence[str]) -> None:
        if not entries:
            raise ValueError("at least one data key is needed")
        self._ciphers: dict[str, AESGCM] = {}
        # Keys of the lookup hashes (``lookup_hashes``), in the order of the entries.
        self._lookup_keys: list[bytes] = []
        ids: list[str] = []
        for entry in entries:
            if len(entry) < 16:
                raise ValueError("every data key must be at least 16 characters")
            raw = HKDF(algorithm=SHA256(), length=32, salt=None, info=_DATA_INFO).derive(
                entry.encode()
            )
            digest = hmac.digest(raw, b"notify-engine/data-key-id", "sha256")
            key_id = base64.urlsafe_b64encode(digest[:6]).decode()
            if key_id in self._ciphers:
                continue  # the same key listed twice
            self._ciphers[key_id] = AESGCM(raw)
            ids.append(key_id)
            self._lookup_keys.append(hmac.digest(raw, b"notify-engine/lookup-hash", "sha256"))
        self.key_ids = tuple(ids)
        self.write_id = ids[0]
        self._write = self._ciphers[self.write_id]
        # What every value sealed with the write key starts with (text, then bytes).
        self.prefix = MARK + self.write_id
        self.prefix_bytes = self.prefix.encode()
        self._nonces = b""
        self._next = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, secret_key: str, data_keys: str) -> DataKeys:
        return cls(data_key_entries(secret_key, data_keys))

    def _nonce(self) -> bytes:
        with self._lock:
            start = self._next
            if start + _NONCE > len(self._nonces):
                self._nonces, start = os.urandom(_NONCE * _NONCES_PER_DRAW), 0
            self._next = start + _NONCE
            return self._nonces[start : start + _NONCE]

    def lookup_hashes(self, value: str) -> list[bytes]:
        """Keyed hashes (HMAC-SHA256) of ``value`` under each key, the write key's first:
        a value looked up by equality is stored as the first, found by any (issue 24:
        opted-out numbers), so rotating keys never loses a stored hash."""
        return [hmac.digest(k, value.encode(), "sha256") for k in self._lookup_keys]

    # -- text -------------------------------------------------------------------------
    def seal(self, plain: str, bound_to: bytes) -> str:
        nonce = self._nonce()
        sealed = nonce + self._write.encrypt(nonce, plain.encode(), bound_to)
        return self.prefix + binascii.b2a_base64(sealed, newline=False).decode()

    def open(self, value: str, bound_to: bytes) -> str:
        """The clear text of a sealed value; a legacy clear value as it is."""
        if not value.startswith(MARK):
            return value
        cipher = self._ciphers.get(value[1 : 1 + _ID_CHARS])
        if cipher is None:
            raise SealError("a value is sealed with a data key not in NOTIFY_DATA_KEYS")
        try:
            sealed = binascii.a2b_base64(value[1 + _ID_CHARS :])
            return cipher.decrypt(sealed[:_NONCE], sealed[_NONCE:], bound_to).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SealError("a sealed value does not open here (tampered or moved)") from exc

    # -- bytes ------------------------------------------------------------------------
    def seal_bytes(self, plain: bytes, bound_to: bytes) -> bytes:
        nonce = self._nonce()
        return self.prefix_bytes + nonce + self._write.encrypt(nonce, plain, bound_to)

    def open_bytes(self, value: bytes, bound_to: bytes) -> bytes:
        if not value.startswith(MARK_BYTES):
            return value
        cipher = self._ciphers.get(value[1 : 1 + _ID_CHARS].decode("ascii", "replace"))
        if cipher is None:
            raise SealError("a value is sealed with a data key not in NOTIFY_DATA_KEYS")
        body = value[1 + _ID_CHARS :]
        try:
            return cipher.decrypt(body[:_NONCE], body[_NONCE:], bound_to)
        except InvalidTag as exc:
            raise SealError("a sealed value does not open here (tampered or moved)") from exc

    def __repr__(self) -> str:
        return f"DataKeys(write={self.write_id}, read={list(self.key_ids)})"

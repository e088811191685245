"""Idempotency keys (issue 24; table ``idempotency_keys``, migration 0028), following the
IETF draft "The Idempotency-Key HTTP Header Field" (draft-ietf-httpapi-idempotency-key-
header-06).

Rules:
- A key is scoped to (service, API key): two keys of one service never see each other's.
- ``claim`` is one statement: it inserts a claim (``status IS NULL``, a fresh ``token``) or
  takes over a row whose claim lapsed (its holder died: ``lease`` seconds) or that expired
  (older than ``ttl``). Otherwise it reads the row: a stored answer (``Stored``), a claim in
  flight (``InFlight``); the caller compares fingerprints. Any number of processes may
  claim at once: the primary key decides, PostgreSQL makes the loser wait for the
  winner's insert, then see it.
- The answer of a notification POST is not written here: it travels with the
  notification row into the group commit (``Store.insert_notifications``), whose
  transaction updates the claim only if ``token`` still holds it, else raises
  ``ClaimLost`` and nothing of that request is written (``answer_rows``/``ANSWER_SQL``).
  Other answers are stored by ``complete`` after the handler (not atomic with what the
  handler wrote: a crash in between lets a retry run again after the lease).
- ``release`` deletes our claim when the request failed (nothing was written: the client
  may retry with the same key); a stored answer is never released.
- The stored body is sealed (it can hold the message and the recipient), bound to
  (token, "response").
- ``purge_expired`` (housekeeping) deletes rows older than ``ttl``, in bounded batches.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from engine.store._pipe import Pipe, affected
from engine.store.sealing import Sealer

TTL_SECONDS = 24 * 3600
# A claim whose holder died lapses after this: more than a request can take (the
# statement timeout is 30 s), so a slow holder is not robbed in normal running.
LEASE_SECONDS = 120.0
PURGE_BATCH = 5000


class Answer(msgspec.Struct, frozen=True):
    """The first answer to a request, stored with its notification (group commit)."""

    service_id: uuid.UUID
    api_key_id: uuid.UUID
    key: str
    token: uuid.UUID
    status: int
    body: bytes


class Claimed(msgspec.Struct, frozen=True):
    token: uuid.UUID


class Stored(msgspec.Struct, frozen=True):
    fingerprint: bytes
    status: int
    body: bytes


class InFlight(msgspec.Struct, frozen=True):
    fingerprint: bytes


class ClaimLost(Exception):
    """Our claim was taken over (its lease lapsed) before our answer was written."""


_CLAIM_SQL = """
INSERT INTO idempotency_keys AS k (service_id, api_key_id, key, fingerprint, token)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (service_id, api_key_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token, claimed_at = now(),
        status = NULL, response = NULL
    WHERE (k.status IS NULL AND k.claimed_at < now() - make_interval(secs => $6))
       OR k.claimed_at < now() - make_interval(secs => $7)
RETURNING token
"""
_READ_SQL = """
SELECT fingerprint, token, status, response FROM idempotency_keys
WHERE service_id = $1 AND api_key_id = $2 AND key = $3
"""
# Used inside the group commit's transaction (engine.store.store).
ANSWER_SQL = """
UPDATE idempotency_keys k SET status = a.status, response = a.response
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::int[], $6::bytea[])
    AS a(service_id, api_key_id, key, token, status, response)
WHERE k.service_id = a.service_id AND k.api_key_id = a.api_key_id AND k.key = a.key
  AND k.token = a.token AND k.status IS NULL
"""
_RELEASE_SQL = """
DELETE FROM idempotency_keys
WHERE service_id = $1 AND api_key_id = $2 AND key = $3 AND token = $4 AND status IS NULL
"""
_PURGE_SQL = """
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys
    WHERE claimed_at < now() - make_interval(secs => $1) LIMIT $2))
"""


def answer_columns(sealer: Sealer, answers: list[Answer]) -> list[list[Any]]:
    """The columns of ``ANSWER_SQL`` for ``answers``, each body sealed."""
    return [
        [a.service_id for a in answers],
        [a.api_key_id for a in answers],
        [a.key for a in answers],
        [a.token for a in answers],
        [a.status for a in answers],
        [sealer.seal_bytes(a.body, a.token, "response") for a in answers],
    ]


class Idempotency:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def claim(
        self,
        service_id: uuid.UUID,
        api_key_id: uuid.UUID,
        key: str,
        fingerprint: bytes,
        *,
        lease: float = LEASE_SECONDS,
        ttl: float = TTL_SECONDS,
    ) -> Claimed | Stored | InFlight:
        for _ in range(3):  # bounded: the row can be purged between our two statements
            token = uuid.uuid4()
            got = await self._pipe.fetchrow(
                _CLAIM_SQL, service_id, api_key_id, key, fingerprint, token, lease, ttl
            )
            if got is not None:
                return Claimed(token)
            row = await self._pipe.fetchrow(_READ_SQL, service_id, api_key_id, key)
            if row is None:
                continue
            if row["status"] is None:
                return InFlight(bytes(row["fingerprint"]))
            body = self._sealer.open_bytes(bytes(row["response"]), row["token"], "response")
            return Stored(bytes(row["fingerprint"]), row["status"], body)
        return InFlight(b"")

    async def complete(self, answer: Answer) -> bool:
        """Store an answer outside a notification's transaction; False if the claim was
        lost."""
        tag = await self._pipe.execute(ANSWER_SQL, *answer_columns(self._sealer, [answer]))
        return affected(tag) == 1

    async def release(
        self, service_id: uuid.UUID, api_key_id: uuid.UUID, key: str, token: uuid.UUID
    ) -> None:
        await self._pipe.execute(_RELEASE_SQL, service_id, api_key_id, key, token)

    async def purge_expired(self, ttl: float = TTL_SECONDS) -> int:
        total = 0
        for _ in range(100):  # bounded; housekeeping comes back for the rest
            gone = affected(await self._pipe.execute(_PURGE_SQL, ttl, PURGE_BATCH))
            total += gone
            if gone < PURGE_BATCH:
                break
        return total

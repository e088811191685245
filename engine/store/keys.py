"""API keys: created sealed (the secret encrypted, its digest for lookups), revoked by
setting ``expiry_date``, never deleted. The plain secret never reaches this module.
A key's ``permissions`` (GC's ``manage_templates``, ``manage_reports``; migration 0023)
are set when it is created. ``last_used_at`` (migration 0034) is written in batches from
each process's memory (``engine.api.key_usage``), never on a request's path, and never
moves backwards."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from engine.store._pipe import Pipe, affected
from engine.store.rows import Row


class Keys:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def create(
        self, key_id: uuid.UUID, service_id: uuid.UUID, *, name: str, key_type: str,
        secret_sealed: bytes, secret_digest: bytes, permissions: list[str] | None = None,
    ) -> None:  # fmt: skip
        await self._pipe.execute(
            "INSERT INTO api_keys (id, service_id, name, key_type, secret_sealed, secret_digest,"
            " permissions) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            key_id,
            service_id,
            name,
            key_type,
            secret_sealed,
            secret_digest,
            permissions or [],
        )

    async def revoke(self, service_id: uuid.UUID, key_id: uuid.UUID) -> bool:
        """Revoke a live key of the service; False if there is none."""
        status = await self._pipe.execute(
            "UPDATE api_keys SET expiry_date = now() WHERE id = $1 AND service_id = $2"
            " AND expiry_date IS NULL",
            key_id,
            service_id,
        )
        return affected(status) > 0

    async def for_service(self, service_id: uuid.UUID) -> list[Row]:
        """``id``, ``name``, ``key_type``, ``secret_sealed``, ``expiry_date``,
        ``permissions``, ``last_used_at``; oldest first."""
        return await self._pipe.fetch(
            "SELECT id, name, key_type, secret_sealed, expiry_date, permissions, last_used_at"
            " FROM api_keys WHERE service_id = $1 ORDER BY created_at",
            service_id,
        )

    async def mark_used(self, used: Sequence[tuple[uuid.UUID, dt.datetime]]) -> None:
        """Record keys' last use (one statement for them all; a later time already
        written by another process is kept)."""
        if not used:
            return
        ids, times = zip(*used, strict=True)
        await self._pipe.execute(
            "UPDATE api_keys k SET last_used_at = u.at"
            " FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)"
            " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
            list(ids),
            list(times),
        )

    async def any_sealed_secret(self) -> bytes | None:
        """One stored key's sealed secret (the newest), if any: at start the engine checks
        that NOTIFY_SECRET_KEY opens it (a second node started without the first's key)."""
        rows = await self._pipe.fetch(
            "SELECT secret_sealed FROM api_keys ORDER BY created_at DESC LIMIT 1"
        )
        return bytes(rows[0]["secret_sealed"]) if rows else None

"""Documents: files sent in personalisation (``engine.api.v2.files`` validates them).

Rules:
- The files of one notification are written in one transaction, before its row.
- ``link`` documents are served until ``expires_at``; ``attach`` documents are read back
  when recovery rebuilds an email from its row (``load_attachments``).
- ``delete_expired`` is bounded (one pass is one short statement); recovery's
  housekeeping runs it every few minutes, and links already refuse expired files.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import msgspec

from engine.domain.notification import Attachment
from engine.store._pipe import Pipe, affected
from engine.store.rows import Row
from engine.store.sealing import Sealer


class NewDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    personalisation_key: str
    filename: str | None
    mime_type: str
    sending_method: str  # attach | link
    content: bytes
    confirm_email: str | None = None  # a link the recipient must confirm this address for
    expires_at: dt.datetime | None = None  # None: the call's expires_at


class Documents:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def insert(
        self, service_id: uuid.UUID, notification_id: uuid.UUID,
        documents: Sequence[NewDocument], *, expires_at: dt.datetime,
    ) -> None:  # fmt: skip
        seal, seal_bytes = self._sealer.seal, self._sealer.seal_bytes
        await self._pipe.transaction(
            [
                (
                    "INSERT INTO documents (id, service_id, notification_id, personalisation_key,"
                    " filename, mime_type, sending_method, content, expires_at, confirm_email)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    (
                        d.id,
                        service_id,
                        notification_id,
                        d.personalisation_key,
                        seal(d.filename, d.id, "filename"),
                        d.mime_type,
                        d.sending_method,
                        seal_bytes(d.content, d.id, "content"),
                        d.expires_at or expires_at,
                        seal(d.confirm_email, d.id, "confirm_email"),
                    ),
                )
                for d in documents
            ]
        )

    async def load_attachments(
        self, notification_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Attachment, ...]]:
        """Attachments of these notifications (recovery rebuilds emails from rows)."""
        if not notification_ids:
            return {}
        rows = await self._pipe.fetch(
            "SELECT id, notification_id, filename, mime_type, content FROM documents"
            " WHERE notification_id = ANY($1::uuid[]) AND sending_method = 'attach'"
            " ORDER BY created_at, personalisation_key",
            list(notification_ids),
        )
        found: dict[uuid.UUID, list[Attachment]] = {}
        sealer = self._sealer
        for r in rows:
            found.setdefault(r["notification_id"], []).append(
                Attachment(
                    filename=sealer.open(r["filename"], r["id"], "filename") or "attachment",
                    content=sealer.open_bytes(bytes(r["content"]), r["id"], "content"),
                    mime_type=r["mime_type"],
                )
            )
        return {k: tuple(v) for k, v in found.items()}

    async def delete_expired(self, limit: int = 10_000) -> int:
        """Drop up to ``limit`` files past their time; returns how many."""
        status = await self._pipe.execute(
            "DELETE FROM documents WHERE id IN"
            " (SELECT id FROM documents WHERE expires_at < now() LIMIT $1)",
            limit,
        )
        return affected(status)

    async def get_link(self, document_id: uuid.UUID) -> Row | None:
        """``filename``, ``mime_type``, ``content`` and ``confirm_email`` (None: no
        confirmation asked) of a link document not yet expired."""
        row = await self._pipe.fetchrow(
            "SELECT filename, mime_type, content, confirm_email FROM documents"
            " WHERE id = $1 AND sending_method = 'link' AND expires_at > now()",
            document_id,
        )
        if row is None:
            return None
        return {
            "filename": self._sealer.open(row["filename"], document_id, "filename"),
            "mime_type": row["mime_type"],
            "content": self._sealer.open_bytes(bytes(row["content"]), document_id, "content"),
            "confirm_email": self._sealer.open(row["confirm_email"], document_id, "confirm_email"),
        }

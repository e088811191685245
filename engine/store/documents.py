"""Documents: files sent in personalisation (``engine.api.v2.files`` validates them).

Rules:
- The files of one notification are written in one transaction, before its row.
- ``link`` documents are served until ``expires_at``; ``attach`` documents are read back
  when recovery rebuilds an email from its row (``load_attachments``).
- ``delete_expired`` is bounded (one pass is one short statement); recovery's
  housekeeping runs it every few minutes, and links already refuse expired files.
- Scanning (issue 25): a document is written ``scan = 'pending'`` (or ``'unscanned'`` when
  the deployment opted out); a link serves it only once ``clean`` (or ``unscanned``), so
  nobody downloads a file before its verdict. ``for_scan`` reads every file of the
  notifications to scan; ``delete_for`` removes an infected notification's files.
- Object storage (issue 25): with ``objects`` set (``engine.providers.object_store``, when
  NOTIFY_FILES_BUCKET is), the sealed content is uploaded before the row is written
  (``object_key`` = service/document id, ``content`` NULL); without, it stays in the row.
  Sealed either way: the bucket only ever holds ciphertext bound to the document id.
- Every statement that deletes documents lists their objects in
  ``document_objects_gone`` in the same statement; ``delete_gone_objects`` (housekeeping)
  deletes those objects, then their rows. A crash between the two leaves the list, so an
  object is never forgotten in the bucket (deleting an absent object is not an error).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Protocol

import msgspec

from engine.domain.notification import Attachment
from engine.store._pipe import Pipe
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


class ObjectStore(Protocol):
    """Where document contents go when a bucket is configured (S3-compatible)."""

    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, keys: Sequence[str]) -> None: ...


# Deleting documents lists their objects for the bucket's housekeeping, in one statement.
_GONE = (
    "INSERT INTO document_objects_gone (object_key)"
    " SELECT object_key FROM gone WHERE object_key IS NOT NULL ON CONFLICT DO NOTHING"
)
_DELETE_EXPIRED_SQL = f"""
WITH gone AS (
    DELETE FROM documents WHERE id IN
        (SELECT id FROM documents WHERE expires_at < now() LIMIT $1)
    RETURNING object_key
), listed AS ({_GONE})
SELECT count(*) AS n FROM gone
"""
_DELETE_FOR_SQL = f"""
WITH gone AS (
    DELETE FROM documents WHERE notification_id = ANY($1::uuid[]) RETURNING object_key
), listed AS ({_GONE})
SELECT count(*) AS n FROM gone
"""


class Documents:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer
        # Set by the wiring when NOTIFY_FILES_BUCKET is (engine.runtime).
        self.objects: ObjectStore | None = None

    async def insert(
        self, service_id: uuid.UUID, notification_id: uuid.UUID,
        documents: Sequence[NewDocument], *, expires_at: dt.datetime, scan: str = "clean",
    ) -> None:  # fmt: skip
        """Write the files of one notification (``scan``: 'pending' until scanned,
        'unscanned' when the deployment does not scan). With a bucket, the sealed contents
        are uploaded first: a row never names an object that was not written."""
        seal, seal_bytes = self._sealer.seal, self._sealer.seal_bytes
        sealed = [seal_bytes(d.content, d.id, "content") for d in documents]
        keys: list[str | None] = [None] * len(documents)
        if self.objects is not None:
            for i, d in enumerate(documents):
                keys[i] = f"{service_id}/{d.id}"
                await self.objects.put(f"{service_id}/{d.id}", sealed[i])
        await self._pipe.transaction(
            [
                (
                    "INSERT INTO documents (id, service_id, notification_id, personalisation_key,"
                    " filename, mime_type, sending_method, content, expires_at, confirm_email,"
                    " scan, object_key)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    (
                        d.id,
                        service_id,
                        notification_id,
                        d.personalisation_key,
                        seal(d.filename, d.id, "filename"),
                        d.mime_type,
                        d.sending_method,
                        sealed[i] if keys[i] is None else None,
                        d.expires_at or expires_at,
                        seal(d.confirm_email, d.id, "confirm_email"),
                        scan,
                        keys[i],
                    ),
                )
                for i, d in enumerate(documents)
            ]
        )

    async def _content(self, row: Row) -> bytes:
        """A document's content, opened (from its row or its object)."""
        if row["object_key"] is not None:
            if self.objects is None:
                raise RuntimeError("a document is in object storage but no bucket is set")
            sealed = await self.objects.get(row["object_key"])
        else:
            sealed = bytes(row["content"])
        return self._sealer.open_bytes(sealed, row["id"], "content")

    async def for_scan(self, notification_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[bytes]]:
        """Every file (attach and link) of these notifications, opened: what the scanner
        reads when it picks rows up from the database."""
        if not notification_ids:
            return {}
        rows = await self._pipe.fetch(
            "SELECT id, notification_id, content, object_key FROM documents"
            " WHERE notification_id = ANY($1::uuid[])",
            list(notification_ids),
        )
        found: dict[uuid.UUID, list[bytes]] = {}
        for r in rows:
            found.setdefault(r["notification_id"], []).append(await self._content(r))
        return found

    async def delete_for(self, notification_ids: Sequence[uuid.UUID]) -> int:
        """Remove every file of these notifications (infected: nobody may download them)."""
        row = await self._pipe.fetchrow(_DELETE_FOR_SQL, list(notification_ids))
        return int(row["n"])

    async def delete_gone_objects(self, limit: int = 1000) -> int:
        """Housekeeping: delete the objects of deleted documents from the bucket."""
        if self.objects is None:
            return 0
        rows = await self._pipe.fetch(
            "SELECT object_key FROM document_objects_gone ORDER BY gone_at LIMIT $1", limit
        )
        keys = [r["object_key"] for r in rows]
        if keys:
            await self.objects.delete(keys)
            await self._pipe.execute(
                "DELETE FROM document_objects_gone WHERE object_key = ANY($1::text[])", keys
            )
        return len(keys)

    async def load_attachments(
        self, notification_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Attachment, ...]]:
        """Attachments of these notifications (recovery rebuilds emails from rows)."""
        if not notification_ids:
            return {}
        rows = await self._pipe.fetch(
            "SELECT id, notification_id, filename, mime_type, content, object_key FROM documents"
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
                    content=await self._content(r),
                    mime_type=r["mime_type"],
                )
            )
        return {k: tuple(v) for k, v in found.items()}

    async def delete_expired(self, limit: int = 10_000) -> int:
        """Drop up to ``limit`` files past their time; returns how many."""
        row = await self._pipe.fetchrow(_DELETE_EXPIRED_SQL, limit)
        return int(row["n"])

    async def get_link(self, document_id: uuid.UUID) -> Row | None:
        """``filename``, ``mime_type``, ``content`` and ``confirm_email`` (None: no
        confirmation asked) of a link document not yet expired and found clean (or not
        scanned by the deployment's choice)."""
        row = await self._pipe.fetchrow(
            "SELECT id, filename, mime_type, content, object_key, confirm_email FROM documents"
            " WHERE id = $1 AND sending_method = 'link' AND expires_at > now()"
            " AND scan IN ('clean', 'unscanned')",
            document_id,
        )
        if row is None:
            return None
        return {
            "filename": self._sealer.open(row["filename"], document_id, "filename"),
            "mime_type": row["mime_type"],
            "content": await self._content(row),
            "confirm_email": self._sealer.open(row["confirm_email"], document_id, "confirm_email"),
        }

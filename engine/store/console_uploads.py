"""The console's CSV uploads between their check and their send (issue 27, migration 0033).

Rules:
- The file is personal data (recipients and their values): its content and name are
  sealed (``engine.store.sealing``, bound to the upload's id), and it is kept only from the
  check that passed to the send: ``take`` deletes it in the statement that reads it (a file
  is sent once), ``keep`` first deletes every expired upload (an indexed range), and a
  session that ends takes its uploads with it (the foreign key cascades). Housekeeping
  (``engine.runtime.forget_expired_console``) deletes expired ones too, uploads or not.
- An upload is found only with the session that made it, its service and before its
  expiry: another member, another service or a stale tab finds nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid

from engine.store._pipe import Pipe, affected
from engine.store.rows import Row
from engine.store.sealing import Sealer

_TAKE_SQL = """
DELETE FROM console_uploads
WHERE id = $1 AND session_hash = $2 AND service_id = $3 AND expires_at > $4
RETURNING id, template_id, file_name, content, row_count
"""
_FORGET_EXPIRED_SQL = "DELETE FROM console_uploads WHERE expires_at <= $1"


class ConsoleUploads:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def keep(
        self, upload_id: uuid.UUID, *, session_hash: bytes, service_id: uuid.UUID,
        template_id: uuid.UUID, file_name: str, content: str, row_count: int,
        now: dt.datetime, expires_at: dt.datetime,
    ) -> None:  # fmt: skip
        seal = self._sealer
        await self._pipe.transaction([
            (_FORGET_EXPIRED_SQL, (now,)),
            ("INSERT INTO console_uploads (id, session_hash, service_id, template_id,"
             " file_name, content, row_count, expires_at)"
             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
             (upload_id, session_hash, service_id, template_id,
              seal.seal(file_name, upload_id, "file_name"),
              seal.seal_bytes(content.encode(), upload_id, "content"), row_count, expires_at)),
        ])  # fmt: skip

    async def forget_expired(self, now: dt.datetime) -> int:
        """Delete every expired upload (housekeeping; ``keep`` does it too): a checked CSV
        that was never sent must not outlive its expiry because nobody uploads again."""
        status = await self._pipe.execute(_FORGET_EXPIRED_SQL, now)
        return affected(status)

    async def peek(
        self, upload_id: uuid.UUID, *, session_hash: bytes, service_id: uuid.UUID,
        now: dt.datetime,
    ) -> Row | None:  # fmt: skip
        """The upload's template, name and row count (not its content), if still kept."""
        row = await self._pipe.fetchrow(
            "SELECT id, template_id, file_name, row_count FROM console_uploads"
            " WHERE id = $1 AND session_hash = $2 AND service_id = $3 AND expires_at > $4",
            upload_id, session_hash, service_id, now,
        )  # fmt: skip
        if row is None:
            return None
        found = dict(row)
        found["file_name"] = self._sealer.open(row["file_name"], upload_id, "file_name")
        return found

    async def take(
        self, upload_id: uuid.UUID, *, session_hash: bytes, service_id: uuid.UUID,
        now: dt.datetime,
    ) -> Row | None:  # fmt: skip
        """The upload, content open, deleted in the same statement; None if not kept."""
        row = await self._pipe.fetchrow(_TAKE_SQL, upload_id, session_hash, service_id, now)
        if row is None:
            return None
        found = dict(row)
        found["file_name"] = self._sealer.open(row["file_name"], upload_id, "file_name")
        content = self._sealer.open_bytes(bytes(row["content"]), upload_id, "content")
        found["content"] = content.decode()
        return found

"""The scanner's queries: notifications waiting for a virus scan (``pending-virus-check``)
and their verdicts (``engine.actors.scanner`` states the rules they serve).

Rules (fencing as ``engine.store.recovery``'s, timings in ``engine.domain.ownership``):
- A row waiting for a scan is claimable when its owner is NULL or not registered (the API
  process that inserted it released it, or died). Claims use ``FOR UPDATE SKIP LOCKED``,
  oldest first, at most ``limit`` a statement, through ``notifications_scan_idx``.
- ``clean`` moves the scanned rows still owned by the caller to ``created`` and marks
  their documents clean, in one transaction: a row another process claimed meanwhile is
  left alone (its owner scans it again; a second scan is harmless). A row scheduled for
  later is released (owner NULL) for recovery's scheduled sweep; the others stay the
  caller's, who hands them to their lanes.
- An infected row goes ``virus-scan-failed`` through the ordinary status update (owner
  fenced; the callback is queued by the database in that statement), then loses its files
  (``Documents.delete_for``).
- ``waiting_since``: rows still waiting for a scan, created before a time (whoever owns
  them), oldest first, through ``notifications_scan_idx``: the scanner ends them
  ``technical-failure`` through the ordinary status update (``pending-virus-check`` may
  become ``technical-failure``: ``MAY_REPLACE``), as it ends a row whose files are gone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from engine.store._pipe import Pipe
from engine.store.rows import Row
from engine.store.sealing import Sealer

_CLAIM_SQL = """
WITH c AS (
    SELECT n.id FROM notifications n
    WHERE n.status = 'pending-virus-check'
      AND (n.owner IS NULL OR n.owner NOT IN (SELECT id FROM workers))
    ORDER BY n.created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n SET owner = $1 FROM c WHERE n.id = c.id
RETURNING n.id, n.service_id, n.template_id, n.template_version, n.key_type,
          n.notification_type, n.recipient, n.status, n.personalisation, n.subject, n.body,
          n.reply_to_text, n.process_type, n.unsubscribe_url, n.created_at, n.owner,
          n.language, n.scheduled_for
"""

# One statement: the rows and their documents are clean together, or neither is.
_CLEAN_SQL = """
WITH n AS (
    UPDATE notifications SET status = 'created', updated_at = now(),
        owner = CASE WHEN scheduled_for > now() THEN NULL ELSE owner END
    WHERE id = ANY($1::uuid[]) AND status = 'pending-virus-check' AND owner = $2
    RETURNING id, owner IS NOT NULL AS due
), d AS (
    UPDATE documents SET scan = 'clean'
    WHERE notification_id IN (SELECT id FROM n) AND scan = 'pending'
)
SELECT id, due FROM n
"""


class Scans:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def claim(self, worker_id: uuid.UUID, *, limit: int) -> list[Row]:
        """Rows waiting for a scan that nobody alive owns: now ``worker_id``'s. The columns
        ``engine.domain.notification.stored_outbound`` reads, and ``scheduled_for``."""
        rows = await self._pipe.fetch(_CLAIM_SQL, worker_id, limit)
        return self._sealer.notifications(rows)

    async def clean(self, worker_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """Rows found clean -> ``created``; returns the ids changed, each with whether it is
        due now (still the caller's, to hand to its lane) or scheduled (released)."""

        rows = await self._pipe.fetch(_CLEAN_SQL, list(ids), worker_id)
        return {r["id"]: bool(r["due"]) for r in rows}

    async def release(self, worker_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        """Give up rows waiting for a scan (no room in memory): the next claim takes them."""
        await self._pipe.execute(
            "UPDATE notifications SET owner = NULL WHERE id = ANY($1::uuid[])"
            " AND status = 'pending-virus-check' AND owner = $2",
            list(ids),
            worker_id,
        )

    async def waiting_since(self, before: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        """Ids of rows waiting for a scan created before ``before`` (at most ``limit``)."""
        rows = await self._pipe.fetch(
            "SELECT id FROM notifications WHERE status = 'pending-virus-check'"
            " AND created_at < $1 ORDER BY created_at LIMIT $2",
            before,
            limit,
        )
        return [r["id"] for r in rows]

    async def waiting(self) -> int:
        """How many notifications wait for a scan (all processes)."""
        row = await self._pipe.fetchrow(
            "SELECT count(*) AS n FROM notifications WHERE status = 'pending-virus-check'"
        )
        return int(row["n"])

"""Unmatched receipts: provider receipts whose reference is on no notification yet, kept in
the database until it is (table ``unmatched_receipts``, migration 0006).

Rules:
- A receipt can beat the commit of the reference it names (a fast provider, a busy store).
  It is acknowledged (SNS's 200, the SQS delete) only after ``Store.apply_receipts``
  returns, and that call writes every receipt it finds no match for here, on the same
  connection as the lookup (``keep``): a crash after the acknowledgement cannot lose it.
- ``sweep`` applies the receipts whose reference has since been committed, through the same
  status statement as any receipt (``update_in_rounds``: allowed transitions only, the
  callback trigger inside), and deletes them in the same transaction; rows are claimed
  ``FOR UPDATE SKIP LOCKED``, so processes sweeping at once never apply one twice. Oldest
  first, so a reference's receipts apply in arrival order.
- Only matchable rows are read: receipts that never match (another system's references on
  a shared topic) cannot crowd out the ones that do. They are deleted once older than the
  bound the caller gives (72 h, the GC rule for ``sending`` rows), and counted.
- Statements run on the keyed pool: the reference lookups must use the index, never scan
  ``notifications`` (the claim's shape forces it: see ``CLAIM_SQL``; a test counts its
  buffers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from engine.providers.base import Receipt
from engine.store._pipe import Pipe
from engine.store.notifications import (
    StatusChange,
    StatusUpdate,
    lookup_references,
    update_in_rounds,
)

_INSERT_SQL = (
    "INSERT INTO unmatched_receipts (reference, receipt)"
    " SELECT * FROM unnest($1::text[], $2::jsonb[])"
)
# The lookup is a LATERAL subquery with a LIMIT, which PostgreSQL cannot flatten: one
# index probe per kept receipt and partition. Written as EXISTS, the planner turned it into
# a hash join over every notification that has a reference (the partitioned table's
# estimates; a never-analysed unmatched_receipts looks like 750 rows): ~2,000 buffers a
# sweep at 9,000 sent rows in bench/e2e.py, growing with the table, twice a second.
CLAIM_SQL = """
SELECT u.id, u.reference, u.receipt::text AS receipt FROM unmatched_receipts u
CROSS JOIN LATERAL (
    SELECT 1 FROM notifications n WHERE n.provider_reference = u.reference LIMIT 1
) matched
ORDER BY u.id
LIMIT $1
FOR UPDATE OF u SKIP LOCKED
"""
_DELETE_SQL = "DELETE FROM unmatched_receipts WHERE id = ANY($1::bigint[])"
_EXPIRE_SQL = "DELETE FROM unmatched_receipts WHERE received_at < now() - make_interval(secs => $1)"
_COUNT_SQL = "SELECT count(*) FROM unmatched_receipts"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Receipt)


class SweepResult(msgspec.Struct, frozen=True):
    applied: int  # receipts taken out of the table and applied
    changes: list[StatusChange]  # the status changes they made
    expired: int  # receipts dropped as too old to ever match


async def keep(conn: Any, receipts: Sequence[Receipt]) -> None:
    """Write ``receipts`` (none matched) to the table, on the caller's connection."""
    if receipts:
        await conn.execute(
            _INSERT_SQL,
            [r.reference for r in receipts],
            [_encoder.encode(r).decode() for r in receipts],
        )


def receipt_update(found: Any, receipt: Receipt) -> StatusUpdate:
    """The status write a matched receipt makes (``found``: its ``RECEIPT_LOOKUP_SQL`` row,
    whose service the write names)."""
    return StatusUpdate(
        id=found["id"],
        service_id=found["service_id"],
        status=receipt.status,
        at=receipt.at,
        provider_response=receipt.provider_response,
        feedback_type=receipt.feedback_type,
        feedback_subtype=receipt.feedback_subtype,
    )


class UnmatchedReceipts:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def sweep(self, *, limit: int = 1000, expire_after_s: float) -> SweepResult:
        """Apply (and delete) up to ``limit`` receipts whose reference now exists; drop
        those older than ``expire_after_s``."""

        async def go() -> SweepResult:
            async with self._pipe.keyed_pool.acquire() as conn, conn.transaction():
                expired = int((await conn.execute(_EXPIRE_SQL, expire_after_s)).split()[-1])
                rows = await conn.fetch(CLAIM_SQL, limit)
                if not rows:
                    return SweepResult(0, [], expired)
                receipts = [_decoder.decode(r["receipt"]) for r in rows]
                references = list({r.reference for r in receipts})
                by_reference = await lookup_references(conn, references)
                updates = [receipt_update(by_reference[r.reference], r) for r in receipts]
                changed = await update_in_rounds(conn, updates)
                await conn.execute(_DELETE_SQL, [r["id"] for r in rows])
                changes = [c for per_update in changed for c in per_update]
                return SweepResult(len(rows), changes, expired)

        return await self._pipe.db.call(go)

    async def count(self) -> int:
        row = await self._pipe.fetchrow(_COUNT_SQL)
        return int(row[0])

"""Bulk jobs: the ``jobs`` row and the job's notifications as the feeder sees them.

Rules:
- A job's rows are written by the notifications COPY path (``Store.insert_notifications``);
  this module writes the job itself and moves ownership of its rows: claimed by the
  feeding process (``claim_rows``), handed to recovery when feeding stops
  (``release_rows`` / ``release_unsent``).
- A job becomes sendable in one statement, after all its rows are committed: it is
  inserted ``pending`` (``WRITING``), its rows are written in chunks, and ``mark_sendable``
  moves it to ``finished`` (sent now) or ``scheduled``. Recovery's claim skips the rows of
  a ``pending`` job (``engine.store.recovery``), so a process killed half-way through a
  job leaves rows that are never sent; ``discard_abandoned`` deletes them once the job is
  older than any write can take (the client had no 201, and retries the whole job).
- ``discard`` removes a job and every row of it in one transaction.
- ``cancel`` (GC's ``DELETE /v2/notifications/bulk/{id}``): a ``scheduled`` job not yet
  due becomes ``cancelled`` and its rows still ``created`` become ``cancelled``, in one
  statement. The job row's lock orders it against ``mark_finished``, which only moves a
  ``pending`` or ``scheduled`` job: whichever commits first wins, so a job is either sent
  whole or cancelled whole (its feeder stops when ``mark_finished`` moves nothing; recovery
  only takes rows still ``created``).
- Pages are read in ``job_row_number`` order, only rows still ``created`` and owned by
  the feeder's current registration, so a row recovery took meanwhile is never fed twice,
  and a feeder whose registration was lost stops (its rows go to recovery). Each row
  carries its ``owner``: the provider actor's ``sending`` mark is conditional on it
  (fencing, ``engine.domain.ownership``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from engine.store._pipe import Pipe
from engine.store.rows import Row
from engine.store.sealing import Sealer

_PAGE_SQL = """
SELECT id, service_id, template_id, template_version, key_type, notification_type, recipient,
       status, personalisation, subject, body, reply_to_text, process_type, unsubscribe_url,
       created_at, job_row_number, owner, language
FROM notifications
WHERE job_id = $1 AND job_row_number > $2 AND status = 'created' AND owner = $3
ORDER BY job_row_number
LIMIT $4
"""


# The state of a job whose rows are still being written (GC's "pending": created, not yet
# processed). Nothing sends a row of a job in this state.
WRITING = "pending"

# One statement, so a job and its rows go together (served by jobs_writing_idx, 0005).
_DISCARD_ABANDONED_SQL = """
WITH gone AS (
    DELETE FROM jobs WHERE job_status = 'pending' AND created_at < $1 RETURNING id
), rows AS (
    DELETE FROM notifications WHERE job_id IN (SELECT id FROM gone)
)
SELECT count(*) AS jobs FROM gone
"""


_JOB_COLUMNS = (
    "id, service_id, template_id, template_version, api_key_id, original_file_name,"
    " notification_count, job_status, scheduled_for, sender_id, processing_started,"
    " processing_finished, created_at, updated_at"
)
# The rows of a cancelled job go with it, and what they took of the budgets is reported.
_CANCEL_SQL = f"""
WITH job AS (
    UPDATE jobs SET job_status = 'cancelled', updated_at = now()
    WHERE id = $1 AND service_id = $2 AND job_status = 'scheduled'
      AND scheduled_for > clock_timestamp()
    RETURNING {_JOB_COLUMNS}
), gone AS (
    UPDATE notifications SET status = 'cancelled', updated_at = now()
    WHERE job_id = (SELECT id FROM job) AND status = 'created'
    RETURNING notification_type, key_type, billable_units
)
SELECT job.*, (SELECT count(*) FROM gone) AS messages,
       (SELECT coalesce(sum(billable_units), 0) FROM gone) AS units,
       (SELECT min(notification_type) FROM gone) AS notification_type,
       (SELECT min(key_type) FROM gone) AS key_type
FROM job
"""


class Jobs:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def insert(
        self, job_id: uuid.UUID, service_id: uuid.UUID, *, template_id: uuid.UUID,
        template_version: int, api_key_id: uuid.UUID | None, name: str, count: int, status: str,
        scheduled_for: dt.datetime | None, sender_id: uuid.UUID | None,
        created_at: dt.datetime,
    ) -> None:  # fmt: skip
        await self._pipe.execute(
            "INSERT INTO jobs (id, service_id, template_id, template_version, api_key_id,"
            " original_file_name, notification_count, job_status, scheduled_for, sender_id,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            job_id, service_id, template_id, template_version, api_key_id,
            self._sealer.seal(name, job_id, "original_file_name"), count, status,
            scheduled_for, sender_id, created_at,
        )  # fmt: skip

    async def mark_sendable(self, job_id: uuid.UUID, *, scheduled: bool) -> None:
        """Every row of the job is committed: from now on it may be sent (``scheduled``
        jobs when due). The one statement that makes a written job sendable."""
        if scheduled:
            await self._pipe.execute(
                "UPDATE jobs SET job_status = 'scheduled', updated_at = now() WHERE id = $1",
                job_id,
            )
        else:
            await self.mark_finished(job_id)

    async def mark_finished(self, job_id: uuid.UUID) -> bool:
        """Every row of the job exists (GC: ``finished`` once all notifications are
        created). False if the job was cancelled first (nothing of it may be sent)."""
        row = await self._pipe.fetchrow(
            "UPDATE jobs SET job_status = 'finished', processing_started = created_at,"
            " processing_finished = now(), updated_at = now()"
            " WHERE id = $1 AND job_status IN ('pending', 'scheduled') RETURNING id",
            job_id,
        )
        return row is not None

    async def get(self, service_id: uuid.UUID, job_id: uuid.UUID) -> Row | None:
        """The job of the service, its name open; None if the service has no such job."""
        row = await self._pipe.fetchrow(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = $1 AND service_id = $2",
            job_id,
            service_id,
        )
        return None if row is None else self._opened(row)

    async def statistics(self, job_id: uuid.UUID) -> list[tuple[str, int]]:
        """(status, count) of the job's notifications, by status (GC's job statistics)."""
        rows = await self._pipe.fetch(
            "SELECT status, count(*) AS count FROM notifications WHERE job_id = $1"
            " GROUP BY status ORDER BY status",
            job_id,
        )
        return [(r["status"], int(r["count"])) for r in rows]

    async def cancel(self, service_id: uuid.UUID, job_id: uuid.UUID) -> Row | None:
        """Cancel a scheduled job not yet due, and its rows (one statement). The job as it
        now is, with ``messages``, ``units`` (SMS fragments), ``notification_type`` and
        ``key_type`` of the rows cancelled; None if the job could not be cancelled."""
        row = await self._pipe.fetchrow(_CANCEL_SQL, job_id, service_id)
        return None if row is None else self._opened(row)

    def _opened(self, row: Row) -> Row:
        out = dict(row)
        out["original_file_name"] = self._sealer.open(
            row["original_file_name"], row["id"], "original_file_name"
        )
        return out

    async def discard(self, job_id: uuid.UUID) -> None:
        await self._pipe.transaction(
            [
                ("DELETE FROM notifications WHERE job_id = $1", (job_id,)),
                ("DELETE FROM jobs WHERE id = $1", (job_id,)),
            ]
        )

    async def discard_abandoned(self, *, created_before: dt.datetime) -> int:
        """Delete the jobs still ``pending`` (never made sendable: the writing process died)
        created before the cutoff, and their rows. Returns how many jobs."""
        row = await self._pipe.fetchrow(_DISCARD_ABANDONED_SQL, created_before)
        return int(row["jobs"])

    async def page(
        self, job_id: uuid.UUID, *, after_row: int, owner: uuid.UUID, limit: int
    ) -> list[Row]:
        """Up to ``limit`` unsent rows of the job owned by ``owner``, after ``after_row``
        (the columns ``engine.domain.notification.stored_outbound`` reads, ``owner``
        included, and ``job_row_number``), personal values open."""
        rows = await self._pipe.fetch(_PAGE_SQL, job_id, after_row, owner, limit)
        return self._sealer.notifications(rows)

    async def claim_rows(self, job_id: uuid.UUID, owner: uuid.UUID) -> None:
        """Take the job's unsent, unowned rows for ``owner``."""
        await self._pipe.execute(
            "UPDATE notifications SET owner = $2 WHERE job_id = $1 AND owner IS NULL"
            " AND status = 'created'",
            job_id,
            owner,
        )

    async def release_rows(self, job_id: uuid.UUID, owner: uuid.UUID, *, after_row: int) -> None:
        """Hand ``owner``'s unsent rows after ``after_row`` to recovery."""
        await self._pipe.execute(
            "UPDATE notifications SET owner = NULL WHERE job_id = $1 AND status = 'created'"
            " AND owner = $2 AND job_row_number > $3",
            job_id,
            owner,
            after_row,
        )

    async def release_unsent(self, job_id: uuid.UUID) -> None:
        """Hand every unsent row of the job to recovery, whoever owns it."""
        await self._pipe.execute(
            "UPDATE notifications SET owner = NULL WHERE job_id = $1 AND status = 'created'",
            job_id,
        )

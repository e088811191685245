"""Reports (issue 24, GC's /v2/reports): requests, their rate, the generation's lease and
the CSV in sealed chunks (migration 0024).

Rules:
- The rate (GC: 10 requests per hour and service, a sliding log) is one statement on the
  service's ``report_requests`` row: ``INSERT ... ON CONFLICT DO UPDATE`` locks the row,
  keeps the times of the last hour, adds this one only if fewer than the limit remain, and
  says whether it did. Every process counts in the same row, so the limit holds across
  processes; concurrent requests queue on the row lock, none is counted twice.
- Generation is fenced by ``attempt``: ``claim`` takes a report that is ``requested``
  (or whose lease ran out: its process died) as the next attempt with a lease;
  ``write_chunk`` renews the lease and writes only while that attempt is still the
  report's, and ``finish`` marks it ready (deleting any other attempt's chunks) in one
  transaction. A process that lost its lease writes nothing more.
- Rows are read a page at a time, by keyset: a service's channel newest first through
  ``notifications_list_idx`` (one ordered, limited scan per key type, merged: never a
  sort of the whole period; measured with EXPLAIN ANALYZE, a page of 1,000 from 200,000
  rows of one service reads ~3,000 index entries in 13 ms), a job's rows by
  ``notifications_job_row_idx``. Recipients and job file names are opened here
  (``engine.store.sealing``); the CSV chunks are sealed (bound to the report, the attempt
  and the chunk's number) and opened here.
- Ready reports are deleted once expired (``delete_expired``, a housekeeping job), with
  their chunks; failed ones after the same delay.
"""

from __future__ import annotations

import datetime as dt
import uuid

from engine.store._pipe import Pipe, affected
from engine.store.rows import Row
from engine.store.sealing import Sealer

_ADMIT_SQL = """
INSERT INTO report_requests AS r (service_id, times, granted)
VALUES ($1, ARRAY[now()], $2 > 0)
ON CONFLICT (service_id) DO UPDATE SET
    granted = (SELECT count(*) FROM unnest(r.times) t
               WHERE t > now() - make_interval(secs => $3)) < $2,
    times = ARRAY(SELECT t FROM unnest(r.times) t
                  WHERE t > now() - make_interval(secs => $3) ORDER BY t)
            || CASE WHEN (SELECT count(*) FROM unnest(r.times) t
                          WHERE t > now() - make_interval(secs => $3)) < $2
                    THEN ARRAY[now()] ELSE ARRAY[]::timestamptz[] END
RETURNING granted, times[1] AS oldest, now() AS now
"""

_FIELDS = (
    "id, service_id, report_type, language, job_id, api_key_id, status, requested_at,"
    " completed_at, expires_at, attempt, lease_until, row_count"
)

_CLAIM_SQL = f"""
UPDATE reports SET status = 'generating', attempt = attempt + 1,
       lease_until = now() + make_interval(secs => $2)
WHERE id = $1 AND (status = 'requested' OR (status = 'generating' AND lease_until < now()))
RETURNING {_FIELDS}
"""

_CHUNK_SQL = """
WITH live AS (
    UPDATE reports SET lease_until = now() + make_interval(secs => $5)
    WHERE id = $1 AND attempt = $2 AND status = 'generating' RETURNING id
)
INSERT INTO report_chunks (report_id, attempt, seq, content) SELECT id, $2, $3, $4 FROM live
"""

_ROW = (
    "id, recipient, notification_type, job_id, job_row_number, status, feedback_subtype,"
    " created_at, template_id"
)


def _by_key_type(key_type: str) -> str:
    return (
        f"(SELECT {_ROW} FROM notifications WHERE service_id = $1 AND key_type = '{key_type}'"
        " AND notification_type = $2 AND created_at >= $3 AND ($6::uuid IS NULL OR job_id = $6)"
        " AND created_at <= $4 AND (created_at, id) < ($4, $5)"
        " ORDER BY created_at DESC, id DESC LIMIT $7)"
    )


_CHANNEL_PAGE_SQL = f"""
SELECT n.*, t.name AS template_name, j.original_file_name
FROM ({" UNION ALL ".join(_by_key_type(k) for k in ("normal", "team", "test"))}) n
JOIN templates t ON t.id = n.template_id
LEFT JOIN jobs j ON j.id = n.job_id
ORDER BY n.created_at DESC, n.id DESC
LIMIT $7
"""

_JOB_PAGE_SQL = f"""
SELECT n.{_ROW.replace(", ", ", n.")}, t.name AS template_name, j.original_file_name
FROM notifications n
JOIN templates t ON t.id = n.template_id
LEFT JOIN jobs j ON j.id = n.job_id
WHERE n.job_id = $2 AND n.service_id = $1 AND n.created_at >= $3 AND n.job_row_number > $4
ORDER BY n.job_row_number
LIMIT $5
"""

_LIST_SQL = f"""
SELECT {_FIELDS} FROM reports
WHERE service_id = $1 AND ($2::uuid IS NULL OR (requested_at, id) <
      (SELECT requested_at, id FROM reports WHERE id = $2 AND service_id = $1))
ORDER BY requested_at DESC, id DESC
LIMIT $3
"""

NEWEST = (dt.datetime.max.replace(tzinfo=dt.UTC), uuid.UUID(int=2**128 - 1))


class Reports:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def admit_request(
        self, service_id: uuid.UUID, *, limit: int, window_s: float
    ) -> tuple[bool, dt.datetime, dt.datetime]:
        """Count a request in the service's sliding window: (let through?, the oldest
        request still in the window, the database's now)."""
        row = await self._pipe.fetchrow(_ADMIT_SQL, service_id, limit, window_s)
        return bool(row["granted"]), row["oldest"], row["now"]

    async def create(
        self, report_id: uuid.UUID, service_id: uuid.UUID, *, report_type: str, language: str,
        job_id: uuid.UUID | None, api_key_id: uuid.UUID,
    ) -> Row:  # fmt: skip
        row: Row = await self._pipe.fetchrow(
            "INSERT INTO reports (id, service_id, report_type, language, job_id, api_key_id,"
            f" status) VALUES ($1, $2, $3, $4, $5, $6, 'requested') RETURNING {_FIELDS}",
            report_id, service_id, report_type, language, job_id, api_key_id,
        )  # fmt: skip
        return row

    async def get(self, report_id: uuid.UUID, service_id: uuid.UUID) -> Row | None:
        row: Row | None = await self._pipe.fetchrow(
            f"SELECT {_FIELDS} FROM reports WHERE id = $1 AND service_id = $2",
            report_id,
            service_id,
        )
        return row

    async def for_service(
        self, service_id: uuid.UUID, *, older_than: uuid.UUID | None, limit: int
    ) -> list[Row]:
        return await self._pipe.fetch(_LIST_SQL, service_id, older_than, limit)

    async def job_exists(self, service_id: uuid.UUID, job_id: uuid.UUID) -> bool:
        row = await self._pipe.fetchrow(
            "SELECT 1 FROM jobs WHERE id = $1 AND service_id = $2", job_id, service_id
        )
        return row is not None

    # -- generation ------------------------------------------------------------------------
    async def claim(self, report_id: uuid.UUID, *, lease_s: float) -> Row | None:
        """Take the report as its next attempt, or None (another process holds it, or it
        is done)."""
        row: Row | None = await self._pipe.fetchrow(_CLAIM_SQL, report_id, lease_s)
        return row

    async def channel_page(
        self, service_id: uuid.UUID, notification_type: str, *, since: dt.datetime,
        job_id: uuid.UUID | None, before: tuple[dt.datetime, uuid.UUID], limit: int,
    ) -> list[Row]:  # fmt: skip
        """Up to ``limit`` of the service's ``notification_type`` notifications created
        since ``since`` and before the keyset ``before`` (created_at, id), newest first."""
        rows = await self._pipe.fetch(
            _CHANNEL_PAGE_SQL, service_id, notification_type, since, before[0], before[1],
            job_id, limit,
        )  # fmt: skip
        return self._opened(rows)

    async def job_page(
        self, service_id: uuid.UUID, job_id: uuid.UUID, *, since: dt.datetime, after_row: int,
        limit: int,
    ) -> list[Row]:  # fmt: skip
        """Up to ``limit`` rows of the job after row ``after_row``, in row order."""
        rows = await self._pipe.fetch(_JOB_PAGE_SQL, service_id, job_id, since, after_row, limit)
        return self._opened(rows)

    def _opened(self, rows: list[Row]) -> list[Row]:
        names: dict[uuid.UUID, str | None] = {}
        out: list[Row] = []
        for r in rows:
            row = dict(r)
            row["recipient"] = self._sealer.open(row["recipient"], row["id"], "recipient")
            job_id = row["job_id"]
            if job_id is not None and job_id not in names:
                names[job_id] = self._sealer.open(
                    row["original_file_name"], job_id, "original_file_name"
                )
            row["original_file_name"] = names.get(job_id) if job_id else None
            out.append(row)
        return out

    async def write_chunk(
        self, report_id: uuid.UUID, attempt: int, seq: int, content: bytes, *, lease_s: float
    ) -> bool:
        """Write one chunk and renew the lease; False: the attempt is no longer the
        report's (the lease was lost), nothing was written."""
        sealed = self._sealer.seal_bytes(content, report_id, f"content/{attempt}/{seq}")
        status = await self._pipe.execute(_CHUNK_SQL, report_id, attempt, seq, sealed, lease_s)
        return affected(status) == 1

    async def finish(
        self, report_id: uuid.UUID, attempt: int, *, rows: int, keep_days: int
    ) -> bool:
        """Mark the attempt's CSV ready (False: the attempt is not the report's any more)."""

        async def go() -> bool:
            async with self._pipe.pool.acquire() as conn, conn.transaction():
                status = await conn.execute(
                    "UPDATE reports SET status = 'ready', completed_at = now(),"
                    " expires_at = now() + make_interval(days => $3), lease_until = NULL,"
                    " row_count = $4 WHERE id = $1 AND attempt = $2 AND status = 'generating'",
                    report_id, attempt, keep_days, rows,
                )  # fmt: skip
                if affected(status) == 0:
                    return False
                await conn.execute(
                    "DELETE FROM report_chunks WHERE report_id = $1 AND attempt <> $2",
                    report_id,
                    attempt,
                )
                return True

        return await self._pipe.db.call(go)

    async def fail(self, report_id: uuid.UUID, attempt: int) -> None:
        await self._pipe.transaction(
            [
                ("UPDATE reports SET status = 'error', lease_until = NULL, completed_at = now()"
                 " WHERE id = $1 AND attempt = $2 AND status = 'generating'",
                 (report_id, attempt)),
                ("DELETE FROM report_chunks WHERE report_id = $1", (report_id,)),
            ]
        )  # fmt: skip

    async def chunks(
        self, report_id: uuid.UUID, attempt: int, *, after: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """Up to ``limit`` chunks of the ready attempt after chunk ``after``, opened."""
        rows = await self._pipe.fetch(
            "SELECT seq, content FROM report_chunks WHERE report_id = $1 AND attempt = $2"
            " AND seq > $3 ORDER BY seq LIMIT $4",
            report_id, attempt, after, limit,
        )  # fmt: skip
        return [
            (r["seq"], self._sealer.open_bytes(bytes(r["content"]), report_id,
                                               f"content/{attempt}/{r['seq']}"))
            for r in rows
        ]  # fmt: skip

    async def delete_expired(self, *, keep_days: int = 3) -> int:
        """Delete expired reports and failed ones as old (their chunks go with them)."""
        status = await self._pipe.execute(
            "DELETE FROM reports WHERE expires_at < now() OR (status = 'error'"
            " AND requested_at < now() - make_interval(days => $1))",
            keep_days,
        )
        return affected(status)

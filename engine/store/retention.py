"""Retention: each service's retention settings, the purge, and the statistics it leaves.

Rules (the periods themselves are ``engine.domain.retention``'s):
- A service keeps each channel's notifications for its ``service_data_retention`` days,
  else ``DEFAULT_DAYS``. Past that, a notification goes with its documents and owed
  callbacks, and GET answers 404 for it, as GC does. Documents in object storage are
  listed in ``document_objects_gone`` by the same statement; housekeeping deletes the
  objects (``engine.store.documents``).
- Before a row goes, it is counted in ``notification_stats`` (per UTC day, service,
  template, channel, key type, status: no personal data). Count and delete are one
  statement, so a row is counted exactly once or not deleted at all.
- Safe with many processes: each statement deletes at most ``batch`` rows it could lock
  (``FOR UPDATE SKIP LOCKED``); two purges at once never take the same row, and the
  statistics upsert adds what each statement deleted. Stats rows are written in key order,
  so two purges cannot deadlock on them.
- Every statement finds its rows through ``notifications_list_idx`` (service, key type,
  created_at): ``key_type = ANY(...)`` makes the range on ``created_at`` an index
  condition (three index ranges), so a purge never scans the table.
- Bulk jobs older than the service's longest retention and without notifications left
  are deleted too (their file name is the only thing they hold).
- One run is bounded (``max_rows``); what is left goes at the next run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from engine.domain import retention
from engine.store._pipe import Pipe

_PURGE_SQL = """
WITH doomed AS (
    SELECT id FROM notifications
    WHERE service_id = $1 AND key_type = ANY('{normal,team,test}'::text[])
      AND created_at < $3 AND notification_type = $2
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM notifications n USING doomed d WHERE n.id = d.id
    RETURNING n.id, n.created_at, n.template_id, n.key_type, n.status, n.billable_units
), documents_gone AS (
    DELETE FROM documents WHERE notification_id IN (SELECT id FROM gone) RETURNING object_key
), objects_gone AS (
    -- Files in object storage: deleted from the bucket by housekeeping (store.documents).
    INSERT INTO document_objects_gone (object_key)
    SELECT object_key FROM documents_gone WHERE object_key IS NOT NULL ON CONFLICT DO NOTHING
), callbacks_gone AS (
    DELETE FROM callback_queue WHERE notification_id IN (SELECT id FROM gone)
), counted AS (
    INSERT INTO notification_stats AS s (service_id, day, template_id, notification_type,
                                         key_type, status, notifications, billable_units)
    SELECT $1, (created_at AT TIME ZONE 'UTC')::date, template_id, $2, key_type, status,
           count(*), sum(billable_units)
    FROM gone GROUP BY 2, 3, 5, 6 ORDER BY 2, 3, 5, 6
    ON CONFLICT (service_id, day, template_id, notification_type, key_type, status)
    DO UPDATE SET notifications = s.notifications + excluded.notifications,
                  billable_units = s.billable_units + excluded.billable_units
)
SELECT count(*) AS n FROM gone
"""

_PERIODS_SQL = f"""
SELECT s.id,
       coalesce(e.days_of_retention, {retention.DEFAULT_DAYS}) AS email,
       coalesce(m.days_of_retention, {retention.DEFAULT_DAYS}) AS sms
FROM services s
LEFT JOIN service_data_retention e ON e.service_id = s.id AND e.notification_type = 'email'
LEFT JOIN service_data_retention m ON m.service_id = s.id AND m.notification_type = 'sms'
"""

_JOBS_SQL = """
DELETE FROM jobs j
WHERE j.service_id = $1 AND j.created_at < $2 AND j.job_status <> 'pending'
  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.job_id = j.id)
"""

# Usage per day, channel and status: the purged (statistics) and the kept (live rows).
_USAGE_SQL = """
SELECT day, notification_type, status, sum(notifications)::bigint AS notifications,
       sum(billable_units)::bigint AS billable_units
FROM (
    SELECT day, notification_type, status, notifications, billable_units
    FROM notification_stats
    WHERE service_id = $1 AND day >= $2 AND day <= $3 AND key_type <> 'test'
    UNION ALL
    SELECT (created_at AT TIME ZONE 'UTC')::date, notification_type, status, count(*),
           sum(billable_units)
    FROM notifications
    WHERE service_id = $1 AND key_type = ANY('{normal,team}'::text[])
      AND created_at >= $4 AND created_at < $5
    GROUP BY 1, 2, 3
) both_kinds
GROUP BY day, notification_type, status
ORDER BY day, notification_type, status
"""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


class Retention:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def periods(self, service_id: uuid.UUID) -> dict[str, int]:
        """The service's retention in days per channel (defaults included)."""
        rows = await self._pipe.fetch(
            "SELECT notification_type, days_of_retention FROM service_data_retention"
            " WHERE service_id = $1",
            service_id,
        )
        found = {r["notification_type"]: r["days_of_retention"] for r in rows}
        return {c: int(found.get(c, retention.DEFAULT_DAYS)) for c in retention.CHANNELS}

    async def set_period(self, service_id: uuid.UUID, channel: str, days: int) -> None:
        await self._pipe.execute(
            "INSERT INTO service_data_retention (service_id, notification_type,"
            " days_of_retention) VALUES ($1, $2, $3)"
            " ON CONFLICT (service_id, notification_type)"
            " DO UPDATE SET days_of_retention = excluded.days_of_retention, updated_at = now()",
            service_id,
            channel,
            days,
        )

    async def purge_batch(
        self, service_id: uuid.UUID, channel: str, before: dt.datetime, batch: int
    ) -> int:
        """Count and delete up to ``batch`` of the service's ``channel`` notifications
        created before ``before``; returns how many went."""
        row = await self._pipe.fetchrow(_PURGE_SQL, service_id, channel, before, batch)
        return int(row["n"])

    async def purge_expired(
        self, today: dt.date | None = None, *, batch: int = 5_000, max_rows: int = 200_000
    ) -> int:
        """One bounded run over every service: returns how many notifications went."""
        today = today or dt.datetime.now(dt.UTC).date()
        purged = 0
        for period in await self._pipe.fetch(_PERIODS_SQL):
            service_id = period["id"]
            for channel in retention.CHANNELS:
                before = retention.cutoff(today, int(period[channel]))
                while purged < max_rows:
                    gone = await self.purge_batch(service_id, channel, before, batch)
                    purged += gone
                    if gone < batch:
                        break
            longest = max(int(period[c]) for c in retention.CHANNELS)
            await self._pipe.execute(_JOBS_SQL, service_id, retention.cutoff(today, longest))
            if purged >= max_rows:
                break
        return purged

    async def usage(self, service_id: uuid.UUID, start: dt.date, end: dt.date) -> list[Any]:
        """Notifications per day, channel and status from ``start`` to ``end`` (inclusive),
        purged or not; test keys are not counted (they are not usage)."""
        return await self._pipe.fetch(
            _USAGE_SQL, service_id, start, end, _midnight(start),
            _midnight(end + dt.timedelta(days=1)),
        )  # fmt: skip

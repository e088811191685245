"""Partitions of ``notifications``: one per UTC day, created ahead and dropped once past
every service's retention (migration 0020 made the table and its two functions).

Rules:
- ``maintain`` is housekeeping (run by recovery's housekeeping with the per-row purge,
  and at start by ``Store.migrate``): it makes sure partitions exist ``DAYS_AHEAD`` days
  ahead, then drops every partition that ends at or before the cutoff of the longest
  retention of any service and channel (``engine.domain.retention``; the default where a
  service set none): every row in it is past its service's retention, whatever the
  service and channel.
- A row is never lost by a missing partition while housekeeping runs: partitions exist a
  week ahead, and an insert beyond them fails loudly (PostgreSQL has no partition for it)
  rather than landing anywhere.
- Before a partition goes, its rows are counted into ``notification_stats`` exactly as the
  per-row purge counts (``engine.store.retention``), and their documents and owed
  callbacks are deleted, in the same transaction as the DROP (the SQL function
  ``notify_drop_oldest_partition``). The per-row purge keeps serving services whose
  retention is shorter than the oldest partition's age; a row it deleted is not in the
  partition any more, so nothing is counted twice.
- Safe with many processes: both functions take the same transaction-level advisory lock,
  so two processes never create or drop the same partition; the later one finds the work
  done. One call drops one partition (one short transaction); ``maintain`` loops a bounded
  number of times.
- The partition catalogue is ``notification_partitions`` (written in the transaction that
  creates or drops a partition), not the system catalogue's bound expressions.
"""

from __future__ import annotations

import datetime as dt

from engine.domain import retention
from engine.store._pipe import Pipe

DAYS_AHEAD = 7
# Partitions one ``maintain`` drops at most (a year of days: an engine back after a long
# stop catches up in one run; each drop is its own transaction).
MAX_DROPS = 400

# The longest retention of any service and channel (the default where none is set).
_LONGEST_SQL = f"""
SELECT coalesce(max(coalesce(r.days_of_retention, {retention.DEFAULT_DAYS})),
                {retention.DEFAULT_DAYS}) AS days
FROM services s
CROSS JOIN unnest('{{{",".join(retention.CHANNELS)}}}'::text[]) AS c(channel)
LEFT JOIN service_data_retention r ON r.service_id = s.id AND r.notification_type = c.channel
"""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


class Partitions:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def create_ahead(self, today: dt.date, days: int = DAYS_AHEAD) -> int:
        """Make sure every day until ``today + days`` (inclusive) has its partition;
        returns how many were created."""
        upto = _midnight(today + dt.timedelta(days=days + 1))
        row = await self._pipe.fetchrow("SELECT notify_create_partitions($1) AS made", upto)
        return int(row["made"])

    async def drop_oldest(self, before: dt.datetime) -> int | None:
        """Count, clean up and drop the oldest partition if it ends by ``before``: the
        rows it held, or None if no partition ends that early."""
        row = await self._pipe.fetchrow("SELECT notify_drop_oldest_partition($1) AS held", before)
        return None if row["held"] is None else int(row["held"])

    async def cutoff(self, today: dt.date) -> dt.datetime:
        """Rows created before this are past every service's retention on ``today``."""
        row = await self._pipe.fetchrow(_LONGEST_SQL)
        return retention.cutoff(today, int(row["days"]))

    async def maintain(self, today: dt.date | None = None) -> tuple[int, int]:
        """Create partitions ahead, drop those past every retention: (created, rows
        dropped)."""
        today = today or dt.datetime.now(dt.UTC).date()
        created = await self.create_ahead(today)
        before = await self.cutoff(today)
        dropped = 0
        for _ in range(MAX_DROPS):
            held = await self.drop_oldest(before)
            if held is None:
                break
            dropped += held
        return created, dropped

    async def names(self) -> list[str]:
        """The partitions there are, oldest first."""
        rows = await self._pipe.fetch("SELECT name FROM notification_partitions ORDER BY ends")
        return [r["name"] for r in rows]

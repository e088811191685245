"""Counts: what a service has sent today and this fiscal year, for its daily and annual
limits. Read only when a budget row of a new window is created (``engine.store.budgets``
seeds its ``used`` from them; the budgets count from then on); test keys do not count."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from engine.store._pipe import Pipe


class SentCounts(msgspec.Struct, frozen=True, kw_only=True):
    """One channel's counts: messages and billable units (SMS fragments) today, and since
    the fiscal year started."""

    notification_type: str
    today_messages: int
    today_units: int
    year_messages: int
    year_units: int = 0


class Counts:
    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    async def sent(
        self, service_id: uuid.UUID, *, day_start: dt.datetime, year_start: dt.datetime
    ) -> list[SentCounts]:
        rows = await self._pipe.fetch(
            "SELECT notification_type,"
            " count(*) FILTER (WHERE created_at >= $2) AS today_messages,"
            " coalesce(sum(billable_units) FILTER (WHERE created_at >= $2), 0) AS today_units,"
            " count(*) AS year_messages, coalesce(sum(billable_units), 0) AS year_units"
            " FROM notifications WHERE service_id = $1 AND key_type <> 'test'"
            " AND created_at >= $3 GROUP BY notification_type",
            service_id,
            day_start,
            year_start,
        )
        return [
            SentCounts(
                notification_type=r["notification_type"],
                today_messages=r["today_messages"],
                today_units=int(r["today_units"]),
                year_messages=r["year_messages"],
                year_units=int(r["year_units"]),
            )
            for r in rows
        ]

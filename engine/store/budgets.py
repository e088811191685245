"""Budgets: the deployment-wide rate buckets and daily / annual quotas of each service, and
the leases processes take of them (the rules and the math: ``engine.domain.leases``).

Rules:
- One row per (service, kind, window) in ``budgets`` (migration 0007). A quota row keeps
  ``used``: every unit any process has leased in that window (spent, or held to spend).
  A rate row keeps ``tokens`` as of ``updated_at``; the refill since then is computed in
  SQL from ``now()``, so every process reads the same bucket whatever its own clock.
- ``lease`` is ONE ``UPDATE ... FROM unnest(...) RETURNING`` for all the budgets a
  service's process is short of: each row is locked while its grant is computed
  (``engine.domain.leases.grant``, written again in SQL below and tested against it), so
  concurrent leases never hand out more than the row has. The number of lessees the
  grant divides by is the live engine processes (``workers`` with a recent heartbeat).
- A row is created on first use of its window, with ``used`` seeded from the
  notifications already stored in that window (``engine.store.counts``: the counts of a
  deployment that ran before this table, or of the minutes before a new day's first
  lease), then leased in the same call. Two processes creating it at once: one insert
  wins (``ON CONFLICT DO NOTHING``), both lease from it.
- A window is a date in the service's time zone (``time_zone``, issue 22): its counts
  start at that zone's midnight (``engine.domain.timezones.day_start``), its fiscal year
  at that zone's April 1.
- ``give_back`` returns unspent units (graceful stop, an idle block): a quota's ``used``
  goes down, a bucket's tokens up (never past its capacity).
- Windows of past days stay (a few rows per service and day) until a purge is added.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from engine.domain.leases import (
    GiveBack,
    LeaseGrant,
    LeaseRequest,
    bucket_shape,
    is_rate,
)
from engine.domain.limits import fiscal_year_start
from engine.domain.timezones import day_start
from engine.store._pipe import Pipe
from engine.store.counts import Counts, SentCounts

# What a row can give now: a bucket's refilled tokens, a quota's limit less what is used.
_AVAILABLE = (
    "(CASE WHEN r.rate THEN least(r.cap, b.tokens + greatest(0::float8,"
    " extract(epoch FROM now() - b.updated_at)::float8) * r.per_second)"
    " ELSE greatest(0, r.lim - b.used)::float8 END)"
)
# ``engine.domain.leases.grant`` in SQL: the need whole or nothing, then a share of the rest.
_GRANT = (
    f"(CASE WHEN {_AVAILABLE} < r.need THEN 0 ELSE least(floor({_AVAILABLE}),"
    f" r.need + least(greatest(0, r.want - r.need),"
    f" greatest(0, floor(({_AVAILABLE} - r.need) / (2 * l.n))))) END)::bigint"
)
_ROWS = (
    "unnest($2::text[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[],"
    " $7::float8[], $8::float8[], $9::bool[])"
    " AS r(kind, window_start, lim, need, want, cap, per_second, rate)"
)
LEASE_SQL = (
    f"UPDATE budgets b SET granted = {_GRANT},"
    f" used = CASE WHEN r.rate THEN b.used ELSE b.used + {_GRANT} END,"
    f" tokens = CASE WHEN r.rate THEN {_AVAILABLE} - {_GRANT} ELSE b.tokens END,"
    " updated_at = CASE WHEN r.rate THEN greatest(b.updated_at, now()) ELSE b.updated_at END"
    " FROM (SELECT greatest(1, count(*))::float8 AS n FROM workers"
    "       WHERE heartbeat_at > now() - make_interval(secs => $10)) AS l,"
    f" {_ROWS}"
    " WHERE b.service_id = $1 AND b.kind = r.kind AND b.window_start = r.window_start"
    " RETURNING b.kind, b.window_start, b.granted,"
    " CASE WHEN r.rate THEN b.tokens ELSE greatest(0, r.lim - b.used)::float8 END AS available"
)
_CREATE_SQL = (
    "INSERT INTO budgets (service_id, kind, window_start, used, tokens, updated_at)"
    " SELECT $1, kind, window_start, used, tokens, now()"
    " FROM unnest($2::text[], $3::date[], $4::bigint[], $5::float8[])"
    " AS r(kind, window_start, used, tokens)"
    " ON CONFLICT DO NOTHING"
)
_GIVE_BACK_SQL = (
    "UPDATE budgets b SET"
    " used = CASE WHEN r.rate THEN b.used ELSE greatest(0, b.used - r.amount) END,"
    " tokens = CASE WHEN r.rate THEN least(r.cap, b.tokens + r.amount) ELSE b.tokens END"
    " FROM unnest($2::text[], $3::date[], $4::bigint[], $5::float8[], $6::bool[])"
    " AS r(kind, window_start, amount, cap, rate)"
    " WHERE b.service_id = $1 AND b.kind = r.kind AND b.window_start = r.window_start"
)


def seed(kind: str, sent: Sequence[SentCounts]) -> int:
    """What a new quota row starts from: the stored notifications of its window."""
    by = {c.notification_type: c for c in sent}
    email, sms = by.get("email"), by.get("sms")
    if kind == "daily:email":
        return email.today_messages if email else 0
    if kind == "daily:sms":
        return sms.today_units if sms else 0
    if kind == "annual:email":
        return email.year_messages if email else 0
    if kind == "annual:sms":
        return sms.year_units if sms else 0
    raise ValueError(f"unknown budget kind {kind!r}")


class Budgets:
    def __init__(self, pipe: Pipe, counts: Counts, *, live_within: float = 30.0) -> None:
        self._pipe = pipe
        self._counts = counts
        self._live_within = float(live_within)

    async def lease(
        self,
        service_id: uuid.UUID,
        requests: Sequence[LeaseRequest],
        *,
        today: dt.date,
        time_zone: str = "UTC",
    ) -> list[LeaseGrant]:
        """One grant per request (``today``: the service's local date in ``time_zone``,
        whose first instant a new row's seed counts from)."""
        grants = await self._lease(service_id, requests)
        if len(grants) < len(requests):
            seen = {(g.kind, g.window) for g in grants}
            missing = [r for r in requests if (r.kind, r.window) not in seen]
            await self._create(service_id, missing, today, time_zone)
            grants += await self._lease(service_id, missing)
        return grants

    async def _lease(
        self, service_id: uuid.UUID, requests: Sequence[LeaseRequest]
    ) -> list[LeaseGrant]:
        shapes = [bucket_shape(r.limit) for r in requests]
        rows = await self._pipe.fetch(
            LEASE_SQL,
            service_id,
            [r.kind for r in requests],
            [r.window for r in requests],
            [r.limit for r in requests],
            [r.need for r in requests],
            [r.want for r in requests],
            [cap for cap, _ in shapes],
            [per_second for _, per_second in shapes],
            [is_rate(r.kind) for r in requests],
            self._live_within,
        )
        return [
            LeaseGrant(r["kind"], r["window_start"], r["granted"], r["available"]) for r in rows
        ]

    async def _create(
        self,
        service_id: uuid.UUID,
        requests: Sequence[LeaseRequest],
        today: dt.date,
        time_zone: str,
    ) -> None:
        sent: Sequence[SentCounts] = ()
        if any(not is_rate(r.kind) for r in requests):
            sent = await self._counts.sent(
                service_id,
                day_start=day_start(today, time_zone),
                year_start=day_start(fiscal_year_start(today), time_zone),
            )
        await self._pipe.execute(
            _CREATE_SQL,
            service_id,
            [r.kind for r in requests],
            [r.window for r in requests],
            [0 if is_rate(r.kind) else seed(r.kind, sent) for r in requests],
            [bucket_shape(r.limit)[0] if is_rate(r.kind) else 0.0 for r in requests],
        )

    async def give_back(self, service_id: uuid.UUID, returns: Sequence[GiveBack]) -> None:
        if not returns:
            return
        await self._pipe.execute(
            _GIVE_BACK_SQL,
            service_id,
            [g.kind for g in returns],
            [g.window for g in returns],
            [g.amount for g in returns],
            [bucket_shape(g.limit)[0] for g in returns],
            [is_rate(g.kind) for g in returns],
        )

"""Callbacks: each service's endpoints (``service_callbacks``) and the queue of owed
callbacks (``callback_queue``), whose rows migration 0002's triggers write in the same
transaction as the status change or complaint that owes them.

Rules:
- The queue's claim and bookkeeping find rows by key and run on the keyed pool
  (``keyed=True``, see ``engine.store.pools``); configuration reads and writes do not.
- A claim (``claim``) takes due rows in ``seq`` order with ``FOR UPDATE SKIP LOCKED``:
  rows that are unowned or whose owner is no longer registered (``engine.store.recovery``
  is the one place that declares a registration dead), never a row while an earlier row
  of the same notification (and type) belongs to someone else, never for a suspended
  endpoint or a service in ``full``. It records the claimer's registration id.
- Every later write on a claimed row (``settle``'s delete and put-back, ``unclaim``,
  ``retry_later``) is conditional on the row still being that owner's: a process that
  lost its registration cannot delete or reschedule a row another process holds now.
- ``settle`` deletes delivered / given-up rows and puts the others back for a later
  attempt, in one transaction.
- An endpoint may choose its statuses (``statuses``; NULL = all): migration 0015's trigger
  queues only those. ``replay`` queues again the callbacks of a service's notifications
  created in a time range, in final or ``pending`` status, as the trigger would have.
- ``record_outcomes`` keeps each endpoint's last success and last failure; processes
  write what they saw every few seconds, and the latest time wins (``greatest``).
- Per-send URLs (issue 23, migration 0012): a row with a ``callback_origin`` belongs to
  that origin, not to the endpoint: the claim skips it when the origin is suspended
  (``callback_origins``), never because the endpoint is. An origin's row in
  ``callback_origins`` is written only when something happens to it (a suspension, an
  outcome), so an ordinary service has none. ``set_hosts`` writes the allowlist on the
  service row (migration 0010's trigger tells every process).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from engine.domain import callbacks as cb
from engine.store._pipe import Pipe, Statement, affected
from engine.store.rows import Row
from engine.store.sealing import Sealer

# (service_id, callback_type, last success, last failure, what the last failure was)
Outcome = tuple[uuid.UUID, str, dt.datetime | None, dt.datetime | None, str | None]

_COLUMNS = ", ".join(f"q.{f}" for f in cb.Owed.__struct_fields__)

# The suspension checks are filters (EXISTS under OR: hashed once, or probed only for rows
# with an origin), not anti-joins: as anti-joins, fresh statistics saying "no suspended
# row" made the planner expect one owed row past them and sort the whole backlog for each
# claim (138,000 buffers a claim at 43,000 owed in bench/e2e.py, 300,000 notifications);
# as filters, the queue-order scan stops at the limit (tests/store/test_queries.py).
CLAIM_SQL = f"""
WITH c AS (
    SELECT q.seq FROM callback_queue q
    WHERE q.next_attempt_at <= now()
      AND (q.owner IS NULL OR q.owner NOT IN (SELECT id FROM workers))
      AND q.service_id <> ALL($3::uuid[])
      AND NOT EXISTS (SELECT 1 FROM callback_queue e
                      WHERE e.notification_id = q.notification_id
                        AND e.callback_type = q.callback_type
                        AND e.seq < q.seq AND e.owner IS DISTINCT FROM $1)
      AND (q.callback_origin IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM service_callbacks s
                          WHERE s.service_id = q.service_id
                            AND s.callback_type = q.callback_type
                            AND s.suspended_at IS NOT NULL))
      AND (q.callback_origin IS NULL
           OR NOT EXISTS (SELECT 1 FROM callback_origins o
                          WHERE o.service_id = q.service_id AND o.origin = q.callback_origin
                            AND o.suspended_at IS NOT NULL))
    ORDER BY q.seq LIMIT $2
    FOR UPDATE OF q SKIP LOCKED
)
UPDATE callback_queue q SET owner = $1 FROM c WHERE q.seq = c.seq
RETURNING {_COLUMNS}
"""
# Settling names rows by (seq, owner) pairs: the owner fences off a row another worker has
# claimed since. ``q.seq = ANY($1)`` bounds the key scan of the keyed pool's generic plan:
# joined on the pairs alone, a plan made while the queue was small read the key from its
# start, and one made on statistics from before the claims took every owned row from the
# owner index (dropped in migration 0036). 400-800 buffers a batch in bench/e2e.py, 8.7 s
# of PostgreSQL per 100,000 notifications; tests/store/test_queries.py.
RELEASE_SQL = """
UPDATE callback_queue q SET owner = NULL, attempts = u.attempts,
    next_attempt_at = now() + make_interval(secs => u.delay)
FROM unnest($1::bigint[], $2::int[], $3::float8[], $4::uuid[]) AS u(seq, attempts, delay, owner)
WHERE q.seq = ANY($1::bigint[]) AND q.seq = u.seq AND q.owner = u.owner
"""
SETTLE_SQL = """
DELETE FROM callback_queue q USING unnest($1::bigint[], $2::uuid[]) AS u(seq, owner)
WHERE q.seq = ANY($1::bigint[]) AND q.seq = u.seq AND q.owner = u.owner
"""


_STATE_SQL = """
SELECT c.callback_type, c.url, c.signing_sealed IS NOT NULL AS signed, c.statuses,
       c.suspended_at, c.suspended_reason, c.last_success_at, c.last_failure_at,
       c.last_failure, c.updated_at,
       (SELECT count(*) FROM callback_queue q
        WHERE q.service_id = c.service_id AND q.callback_type = c.callback_type
          AND q.callback_origin IS NULL) AS owed,
       (SELECT min(q.queued_at) FROM callback_queue q
        WHERE q.service_id = c.service_id AND q.callback_type = c.callback_type
          AND q.callback_origin IS NULL) AS oldest_owed_at
FROM service_callbacks c
WHERE c.service_id = $1 AND c.callback_type = ANY($2::text[])
ORDER BY c.callback_type
"""

_OUTCOMES_SQL = """
UPDATE service_callbacks c SET
    last_success_at = greatest(c.last_success_at, u.success_at),
    last_failure_at = greatest(c.last_failure_at, u.failure_at),
    last_failure = CASE WHEN u.failure_at IS NOT NULL
                         AND u.failure_at >= coalesce(c.last_failure_at, u.failure_at)
                        THEN u.failure ELSE c.last_failure END
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
     AS u(service_id, callback_type, success_at, failure_at, failure)
WHERE c.service_id = u.service_id AND c.callback_type = u.callback_type
"""

_REPLAY_SQL = """
WITH wanted AS (
    SELECT statuses FROM service_callbacks
    WHERE service_id = $1 AND callback_type = 'delivery_status'
), again AS (
    SELECT n.* FROM notifications n, wanted w
    WHERE n.service_id = $1 AND n.key_type = ANY('{normal,team,test}'::text[])
      AND n.created_at >= $2 AND n.created_at < $3
      AND n.status = ANY($4::text[])
      AND (w.statuses IS NULL OR n.status = ANY(w.statuses))
    ORDER BY n.created_at
    LIMIT $5
)
INSERT INTO callback_queue (service_id, callback_type, notification_id, status,
    notification_type, recipient, client_reference, template_id, template_version,
    provider_response, created_at, sent_at, completed_at, feedback_subtype, callback_url,
    callback_origin)
SELECT service_id, 'delivery_status', id, status, notification_type, recipient,
       client_reference, template_id, template_version, provider_response, created_at,
       sent_at, updated_at, feedback_subtype, callback_url,
       substring(callback_url from '^[a-z]+://[^/?#]+')
FROM again
"""

# Per-send origins (issue 23): their state, and what they are owed, for the admin API.
_ORIGINS_SQL = """
WITH owed AS (
    SELECT callback_origin AS origin, count(*) AS owed, min(queued_at) AS oldest_owed_at
    FROM callback_queue
    WHERE service_id = $1 AND callback_origin IS NOT NULL
    GROUP BY callback_origin
)
SELECT coalesce(o.origin, w.origin) AS origin, o.url, o.suspended_at, o.suspended_reason,
       o.last_success_at, o.last_failure_at, o.last_failure,
       coalesce(w.owed, 0) AS owed, w.oldest_owed_at
FROM (SELECT * FROM callback_origins WHERE service_id = $1) o
FULL JOIN owed w ON w.origin = o.origin
ORDER BY 1
"""
_ORIGIN_OUTCOMES_SQL = """
INSERT INTO callback_origins AS c (service_id, origin, last_success_at, last_failure_at,
    last_failure)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
ON CONFLICT (service_id, origin) DO UPDATE SET
    last_success_at = greatest(c.last_success_at, EXCLUDED.last_success_at),
    last_failure_at = greatest(c.last_failure_at, EXCLUDED.last_failure_at),
    last_failure = CASE WHEN EXCLUDED.last_failure_at IS NOT NULL
                         AND EXCLUDED.last_failure_at >= coalesce(c.last_failure_at,
                                                                  EXCLUDED.last_failure_at)
                        THEN EXCLUDED.last_failure ELSE c.last_failure END
"""
_SUSPEND_ORIGIN_SQL = """
INSERT INTO callback_origins AS c (service_id, origin, url, suspended_at, suspended_reason)
VALUES ($1, $2, $3, now(), $4)
ON CONFLICT (service_id, origin) DO UPDATE SET
    url = EXCLUDED.url, suspended_at = now(), suspended_reason = EXCLUDED.suspended_reason
WHERE c.suspended_at IS NULL
"""


class Callbacks:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    # -- endpoints (service_callbacks) -------------------------------------------------
    async def configure(
        self, service_id: uuid.UUID, callback_type: str, *, url: str, bearer_sealed: bytes,
        signing_sealed: bytes | None, statuses: Sequence[str] | None = None,
    ) -> None:  # fmt: skip
        """Set (or replace) an endpoint; a replaced endpoint is no longer suspended.
        ``statuses``: the delivery statuses it wants (None: all)."""
        await self._pipe.execute(
            "INSERT INTO service_callbacks (service_id, callback_type, url, bearer_sealed,"
            " signing_sealed, statuses) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (service_id, callback_type) DO UPDATE SET url = EXCLUDED.url,"
            " bearer_sealed = EXCLUDED.bearer_sealed, signing_sealed = EXCLUDED.signing_sealed,"
            " statuses = EXCLUDED.statuses,"
            " suspended_at = NULL, suspended_reason = NULL, updated_at = now()",
            service_id,
            callback_type,
            url,
            bearer_sealed,
            signing_sealed,
            None if statuses is None else list(statuses),
        )

    async def configured_types(self, service_id: uuid.UUID, kinds: Sequence[str]) -> list[str]:
        """Which of these callback types the service has an endpoint for."""
        rows = await self._pipe.fetch(
            "SELECT callback_type FROM service_callbacks"
            " WHERE service_id = $1 AND callback_type = ANY($2::text[])",
            service_id,
            list(kinds),
        )
        return [r["callback_type"] for r in rows]

    async def for_service(self, service_id: uuid.UUID) -> list[Row]:
        """``callback_type``, ``url``, ``bearer_sealed``, ``signing_sealed``,
        ``suspended_at`` of each of the service's endpoints."""
        return await self._pipe.fetch(
            "SELECT callback_type, url, bearer_sealed, signing_sealed, suspended_at"
            " FROM service_callbacks WHERE service_id = $1",
            service_id,
        )

    async def suspend(self, service_id: uuid.UUID, callback_type: str, reason: str) -> bool:
        """Suspend an endpoint; False if it was already suspended (or is not configured)."""
        status = await self._pipe.execute(
            "UPDATE service_callbacks SET suspended_at = now(), suspended_reason = $3"
            " WHERE service_id = $1 AND callback_type = $2 AND suspended_at IS NULL",
            service_id,
            callback_type,
            reason,
        )
        return affected(status) > 0

    async def resume(self, service_id: uuid.UUID, kinds: Sequence[str]) -> list[str]:
        """Lift the suspension of these types; returns the types that were suspended."""
        rows = await self._pipe.fetch(
            "UPDATE service_callbacks SET suspended_at = NULL, suspended_reason = NULL"
            " WHERE service_id = $1 AND callback_type = ANY($2::text[])"
            " AND suspended_at IS NOT NULL RETURNING callback_type",
            service_id,
            list(kinds),
        )
        return [r["callback_type"] for r in rows]

    async def suspended(self) -> list[tuple[uuid.UUID, str]]:
        """(service_id, callback_type) of every suspended endpoint."""
        rows = await self._pipe.fetch(
            "SELECT service_id, callback_type FROM service_callbacks WHERE suspended_at IS NOT NULL"
        )
        return [(r["service_id"], r["callback_type"]) for r in rows]

    async def state(self, service_id: uuid.UUID, kinds: Sequence[str]) -> list[Row]:
        """Each configured endpoint of these types: its configuration without secrets,
        suspension, last success and failure, and what it is owed (count, oldest)."""
        return await self._pipe.fetch(_STATE_SQL, service_id, list(kinds))

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Write endpoints' last success and failure (the latest wins)."""
        if outcomes:
            columns = [list(c) for c in zip(*outcomes, strict=True)]
            await self._pipe.execute(_OUTCOMES_SQL, *columns)

    async def replay(
        self, service_id: uuid.UUID, start: dt.datetime, end: dt.datetime, *, limit: int
    ) -> int:
        """Queue again the delivery-status callbacks of the service's notifications created
        in [start, end) (at most ``limit``); returns how many were queued."""
        statuses = sorted(cb.CALLBACK_STATUSES)
        status = await self._pipe.execute(_REPLAY_SQL, service_id, start, end, statuses, limit)
        return affected(status)

    # -- per-send URLs: the allowlist and the origins (issue 23) -----------------------
    async def set_hosts(self, service_id: uuid.UUID, hosts: Sequence[str]) -> None:
        """Replace the service's ``callback_hosts``."""
        await self._pipe.execute(
            "UPDATE services SET callback_hosts = $2 WHERE id = $1", service_id, list(hosts)
        )

    async def hosts(self, service_id: uuid.UUID) -> list[str]:
        row = await self._pipe.fetchrow(
            "SELECT callback_hosts FROM services WHERE id = $1", service_id
        )
        return [] if row is None else list(row["callback_hosts"])

    async def origins(self, service_id: uuid.UUID) -> list[Row]:
        """Each per-send origin the service has state for or owes callbacks to."""
        return await self._pipe.fetch(_ORIGINS_SQL, service_id)

    async def suspend_origin(
        self, service_id: uuid.UUID, origin: str, url: str, reason: str
    ) -> bool:
        """Suspend a per-send origin (``url``: what the probe will try); False if it was
        suspended already."""
        status = await self._pipe.execute(_SUSPEND_ORIGIN_SQL, service_id, origin, url, reason)
        return affected(status) > 0

    async def resume_origins(self, service_id: uuid.UUID, origins: Sequence[str]) -> list[str]:
        """Lift these origins' suspensions; returns the origins that were suspended."""
        rows = await self._pipe.fetch(
            "UPDATE callback_origins SET suspended_at = NULL, suspended_reason = NULL"
            " WHERE service_id = $1 AND origin = ANY($2::text[])"
            " AND suspended_at IS NOT NULL RETURNING origin",
            service_id,
            list(origins),
        )
        return [r["origin"] for r in rows]

    async def suspended_origins(self) -> list[tuple[uuid.UUID, str, str]]:
        """(service_id, origin, url) of every suspended per-send origin."""
        rows = await self._pipe.fetch(
            "SELECT service_id, origin, url FROM callback_origins WHERE suspended_at IS NOT NULL"
        )
        return [(r["service_id"], r["origin"], r["url"]) for r in rows]

    async def record_origin_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """As ``record_outcomes``, for per-send origins (``Outcome``'s second value)."""
        if outcomes:
            columns = [list(c) for c in zip(*outcomes, strict=True)]
            await self._pipe.execute(_ORIGIN_OUTCOMES_SQL, *columns)

    # -- the queue (callback_queue) -----------------------------------------------------
    async def claim(
        self, owner: uuid.UUID, *, limit: int, full: Sequence[uuid.UUID]
    ) -> list[cb.Owed]:
        """Claim up to ``limit`` due rows for ``owner`` (a registration id), none of the
        services in ``full``; each comes back with ``owner`` set."""

        # A custom plan, made for this limit and these services: the keyed pool's sessions
        # use generic plans (engine.store.pools), and the claim's generic plan cannot see
        # its limit; at 300,000 notifications of bench/e2e.py it sorted the backlog each
        # claim and callbacks stalled (70,137 not delivered when the run gave up). A claim
        # takes ~170 rows, so the transaction's two more round trips cost nothing.
        async def go() -> list[Any]:
            async with self._pipe.keyed_pool.acquire() as conn, conn.transaction():
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                return list(await conn.fetch(CLAIM_SQL, owner, limit, list(full)))

        rows = await self._pipe.db.call(go)
        # The recipient is the notification's, sealed as it is (0002's triggers copy it).
        opened = [self._sealer.notification(r, "notification_id") for r in rows]
        for r in opened:  # an inbound text's callback carries the text (engine.store.inbound)
            if r["callback_type"] == cb.INBOUND_SMS:
                r["provider_response"] = self._sealer.open(
                    r["provider_response"], r["notification_id"], "content"
                )
        return [cb.Owed(**r) for r in opened]

    async def unclaim(self, seqs: Sequence[int], owner: uuid.UUID) -> None:
        """Give claimed rows back at once, untouched (they did not fit)."""
        await self._pipe.execute(
            "UPDATE callback_queue SET owner = NULL WHERE seq = ANY($1::bigint[]) AND owner = $2",
            list(seqs),
            owner,
            keyed=True,
        )

    async def retry_later(
        self, seqs: Sequence[int], attempts: Sequence[int], delays: Sequence[float],
        owners: Sequence[uuid.UUID | None],
    ) -> None:  # fmt: skip
        """Give rows back with their attempt count, due again after ``delays`` seconds."""
        await self._pipe.execute(RELEASE_SQL, list(seqs), list(attempts), list(delays),
                                 list(owners), keyed=True)  # fmt: skip

    async def settle(
        self,
        done: Sequence[tuple[int, uuid.UUID | None]],
        retries: Sequence[tuple[int, int, float, uuid.UUID | None]],
    ) -> None:
        """In one transaction: delete the ``done`` rows (seq, owner), give the ``retries``
        (seq, attempts, delay, owner) back as ``retry_later`` does."""
        statements: list[Statement] = []
        if done:
            seqs, owners = zip(*done, strict=True)
            statements.append((SETTLE_SQL, (list(seqs), list(owners))))
        if retries:
            columns = tuple(list(c) for c in zip(*retries, strict=True))
            statements.append((RELEASE_SQL, columns))
        if statements:
            await self._pipe.transaction(statements, keyed=True)

    async def release_owned(self, worker_id: uuid.UUID) -> None:
        """Give back every row ``worker_id`` holds (it is stopping)."""
        await self._pipe.execute(
            "UPDATE callback_queue SET owner = NULL WHERE owner = $1", worker_id
        )

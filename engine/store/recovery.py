"""Recovery's queries: worker heartbeats and the claims of rows nobody alive owns
(``engine.actors.recovery`` states the rules they serve).

Rules (the timings and why they fence: ``engine.domain.ownership``):
- Each registration is a row in ``workers`` under a fresh id, the owner id its claims
  record. A row is claimable when its owner is NULL or not registered: an id whose row is
  gone never comes back, so "not in ``workers``" is stable and needs no clock.
- Only ``reap`` declares a process dead, by deleting its registration: its heartbeat is
  older than ``dead_after`` (database clock), and the reaper's own heartbeats have been
  continuous (``up_since``) for ``dead_after`` and its last one is younger than ``gap``.
  The delete and a late heartbeat of the same registration are serialised by the row
  lock: either the heartbeat finds no row (the process knows it lost its registration)
  or the delete re-checks the fresh heartbeat and leaves the row alone.
- ``heartbeat`` renews only an existing registration and resets ``up_since`` when it
  comes more than ``gap`` after the previous one (an outage or a pause).
- Claims use ``FOR UPDATE SKIP LOCKED``, so processes never claim the same row, and take
  the oldest rows first, at most ``limit`` a statement.
- A row of a bulk job whose rows are still being written (job ``pending``,
  ``engine.store.jobs``) is never claimed: it becomes sendable with its whole job, or is
  deleted with it if the writer died. Both ``NOT IN`` sets are hashed once a statement
  (the registered workers, the few pending jobs from a partial index), so the claim stays an
  index scan of ``notifications_unfinished_idx`` in ``created_at`` order (EXPLAIN checked
  in tests/actors/test_recovery.py).
- A ``sending`` row without a provider reference was marked before a provider call that
  may or may not have happened: claimed when its owner is not registered (or is NULL: a
  shutdown that released a row just before its mark landed, with builds before issue 20)
  and its mark is older than the sending grace (``engine.domain.ownership``: a sender
  that was only frozen has that long to come back and record the provider's reference,
  after which the row is never claimed). At-least-once after that, as
  ``engine.actors.recovery`` says. The mark's time is ``updated_at`` (the marking
  process's clock): node clocks are assumed to agree to well within the grace.
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
    WHERE ((n.status = 'created' AND (n.scheduled_for IS NULL OR n.scheduled_for <= now()))
           OR (n.status = 'sending' AND n.provider_reference IS NULL
               AND n.updated_at < now() - make_interval(secs => $2)))
      AND (n.owner IS NULL OR n.owner NOT IN (SELECT id FROM workers))
      AND (n.job_id IS NULL OR n.job_id NOT IN (SELECT id FROM jobs WHERE job_status = 'pending'))
    ORDER BY n.created_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n SET owner = $1 FROM c WHERE n.id = c.id
RETURNING n.id, n.service_id, n.template_id, n.template_version, n.key_type,
          n.notification_type, n.recipient, n.status, n.personalisation, n.subject, n.body,
          n.reply_to_text, n.process_type, n.unsubscribe_url, n.created_at, n.owner,
          n.language
"""


# Messages the simulated provider accepted for a process that then died: their receipts
# lived in that process's memory, so they are scheduled again (see SimulatedProvider.replay).
_CLAIM_SIMULATED_SQL = """
WITH c AS (
    SELECT n.id FROM notifications n
    WHERE n.status IN ('sending', 'sent', 'pending') AND n.provider LIKE 'simulated-%'
      AND n.provider_reference IS NOT NULL AND n.owner IS NOT NULL
      AND n.owner NOT IN (SELECT id FROM workers)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n SET owner = $1 FROM c WHERE n.id = c.id
RETURNING n.id, n.provider, n.provider_reference, n.notification_type, n.recipient
"""

# $1 me, $2 dead_after, $3 gap. The reaper's own conditions are read under the row lock
# of its own registration, so a reaper that lost its registration reaps nothing.
_REAP_SQL = """
WITH me AS (
    SELECT id FROM workers
    WHERE id = $1 AND up_since <= now() - make_interval(secs => $2)
      AND heartbeat_at > now() - make_interval(secs => $3)
    FOR SHARE
)
DELETE FROM workers w
WHERE w.heartbeat_at < now() - make_interval(secs => $2) AND w.id <> $1
  AND EXISTS (SELECT 1 FROM me)
RETURNING w.id
"""

_HEARTBEAT_SQL = """
UPDATE workers SET
    up_since = CASE WHEN heartbeat_at < now() - make_interval(secs => $2)
                    THEN now() ELSE up_since END,
    heartbeat_at = now()
WHERE id = $1
RETURNING id
"""


class Recovery:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    # -- workers -------------------------------------------------------------------------
    async def register(self, worker_id: uuid.UUID, *, hostname: str, pid: int) -> None:
        await self._pipe.execute(
            "INSERT INTO workers (id, hostname, pid) VALUES ($1, $2, $3)",
            worker_id,
            hostname,
            pid,
        )

    async def heartbeat(self, worker_id: uuid.UUID, *, gap: float) -> bool:
        """Renew the registration; False if it is gone (declared dead: register anew).
        A heartbeat more than ``gap`` seconds after the previous one restarts ``up_since``."""
        row = await self._pipe.fetchrow(_HEARTBEAT_SQL, worker_id, gap)
        return row is not None

    async def reap(self, worker_id: uuid.UUID, *, dead_after: float, gap: float) -> list[uuid.UUID]:
        """Delete the registrations silent for ``dead_after`` seconds, if ``worker_id`` may
        judge (see the module rules). Returns the ids declared dead."""
        rows = await self._pipe.fetch(_REAP_SQL, worker_id, dead_after, gap)
        return [r["id"] for r in rows]

    async def unregister(self, worker_id: uuid.UUID) -> None:
        await self._pipe.execute("DELETE FROM workers WHERE id = $1", worker_id)

    # -- claims and releases -------------------------------------------------------------
    async def claim(self, worker_id: uuid.UUID, *, sending_grace: float, limit: int) -> list[Row]:
        """Due ``created`` rows that are unowned or an unregistered owner's, and ``sending``
        rows of such an owner with no provider reference, marked more than
        ``sending_grace`` seconds ago: now ``worker_id``'s. The columns
        ``engine.domain.notification.stored_outbound`` reads (``owner`` included), and
        ``status``; personal values open."""
        rows = await self._pipe.fetch(_CLAIM_SQL, worker_id, sending_grace, limit)
        return self._sealer.notifications(rows)

    async def claim_simulated(self, worker_id: uuid.UUID, *, limit: int) -> list[Row]:
        """An unregistered owner's simulated sends still waiting for receipts:
        ``provider``, ``provider_reference``, ``notification_type``, ``recipient`` (open)."""
        rows = await self._pipe.fetch(_CLAIM_SIMULATED_SQL, worker_id, limit)
        return self._sealer.notifications(rows)

    async def release(self, worker_id: uuid.UUID, notification_ids: Sequence[uuid.UUID]) -> None:
        """Give up these unsent rows of ``worker_id`` (the next sweep claims them)."""
        await self._pipe.execute(
            "UPDATE notifications SET owner = NULL WHERE id = ANY($1::uuid[])"
            " AND status = 'created' AND owner = $2",
            list(notification_ids),
            worker_id,
        )

    async def stuck(
        self, statuses: Sequence[str], *, created_before: dt.datetime, limit: int = 10_000
    ) -> list[uuid.UUID]:
        """Ids of notifications in one of ``statuses`` created before the cutoff."""
        rows = await self._pipe.fetch(
            "SELECT id FROM notifications WHERE status = ANY($1::text[])"
            f" AND created_at < $2 LIMIT {int(limit)}",
            list(statuses),
            created_before,
        )
        return [r["id"] for r in rows]

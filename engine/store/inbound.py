"""Inbound SMS and opt-outs (issue 24; tables of migration 0029).

Rules:
- A service receives on its ``inbound_number`` (one service per number, set by the admin
  API); a text to a number no service has is dropped by the caller.
- ``receive`` stores a text once: SNS delivers at least once, and its
  ``inboundMessageId`` is unique (a redelivery is a no-op, and says so). In the same
  statement it queues the service's ``inbound_sms`` callback, if it has one. The sender's
  number and the text are sealed (``engine.store.sealing``), bound to (id, column).
- Opt-outs are keyed hashes of the E.164 number (``Sealer.lookup_hashes``): written with
  the write key, found by any key in force, removed under every key.
- ``page`` is GC's ``GET /v2/received-text-messages``: newest first by (created_at, id),
  ``older_than`` an id (an unknown id gives an empty page, as GC does).
- ``purge_expired`` (housekeeping): texts are kept as long as the service keeps its SMS
  notifications (``service_data_retention``, else the default), in bounded batches.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from engine.domain import retention
from engine.store._pipe import Pipe, affected
from engine.store.sealing import Sealer

PURGE_BATCH = 5000

# The text and, when the service has an inbound_sms callback, its owed callback, in one
# statement (so a stored text always has its callback). The callback row carries the
# sender as ``recipient`` and the text as ``provider_response``, each sealed for that
# row (bound to (id, "recipient") / (id, "content"): engine.store.callbacks opens them),
# our number as ``client_reference`` and the time received as ``completed_at``.
_RECEIVE_SQL = """
WITH new AS (
    INSERT INTO inbound_sms (id, service_id, notify_number, user_number, content,
                             provider_reference, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (provider_reference) DO NOTHING
    RETURNING id, service_id, notify_number, created_at
), owed AS (
    INSERT INTO callback_queue (service_id, callback_type, notification_id,
                                notification_type, recipient, client_reference,
                                provider_response, created_at, completed_at)
    SELECT n.service_id, 'inbound_sms', n.id, 'sms', $8, n.notify_number, $9,
           n.created_at, n.created_at
    FROM new n
    WHERE EXISTS (SELECT 1 FROM service_callbacks s
                  WHERE s.service_id = n.service_id AND s.callback_type = 'inbound_sms')
)
SELECT id FROM new
"""
_PAGE_SQL = """
SELECT id, service_id, notify_number, user_number, content, created_at FROM inbound_sms
WHERE service_id = $1
  AND ($2::uuid IS NULL OR (created_at, id) < (
        SELECT created_at, id FROM inbound_sms WHERE id = $2 AND service_id = $1))
ORDER BY created_at DESC, id DESC
LIMIT $3
"""
_PURGE_SQL = f"""
DELETE FROM inbound_sms WHERE id = ANY(ARRAY(
    SELECT i.id FROM inbound_sms i
    LEFT JOIN service_data_retention r
           ON r.service_id = i.service_id AND r.notification_type = 'sms'
    WHERE i.created_at < now() - make_interval(
        days => coalesce(r.days_of_retention, {retention.DEFAULT_DAYS}))
    LIMIT $1))
"""


class Inbound:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def service_for_number(self, number: str) -> uuid.UUID | None:
        row = await self._pipe.fetchrow("SELECT id FROM services WHERE inbound_number = $1", number)
        return None if row is None else row["id"]

    async def receive(
        self,
        service_id: uuid.UUID,
        *,
        notify_number: str,
        user_number: str,
        content: str,
        reference: str,
        at: dt.datetime,
    ) -> uuid.UUID | None:
        """Store a text; its new id, or None when ``reference`` was already stored."""
        new = uuid.uuid4()
        seal = self._sealer.seal
        row = await self._pipe.fetchrow(
            _RECEIVE_SQL,
            new,
            service_id,
            notify_number,
            seal(user_number, new, "user_number"),
            seal(content, new, "content"),
            reference,
            at,
            seal(user_number, new, "recipient"),
            seal(content, new, "content"),
        )
        return None if row is None else new

    async def page(
        self, service_id: uuid.UUID, older_than: uuid.UUID | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self._pipe.fetch(_PAGE_SQL, service_id, older_than, limit)
        opened = self._sealer.open
        return [
            {
                **dict(r),
                "user_number": opened(r["user_number"], r["id"], "user_number"),
                "content": opened(r["content"], r["id"], "content"),
            }
            for r in rows
        ]

    async def opt_out(self, service_id: uuid.UUID, number: str) -> None:
        await self._pipe.execute(
            "INSERT INTO sms_opt_outs (service_id, number_hash) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            service_id,
            self._sealer.lookup_hashes(number)[0],
        )

    async def opt_in(self, service_id: uuid.UUID, number: str) -> None:
        await self._pipe.execute(
            "DELETE FROM sms_opt_outs WHERE service_id = $1 AND number_hash = ANY($2::bytea[])",
            service_id,
            self._sealer.lookup_hashes(number),
        )

    async def opted_out(self, service_id: uuid.UUID, number: str) -> bool:
        row = await self._pipe.fetchrow(
            "SELECT 1 FROM sms_opt_outs WHERE service_id = $1 AND number_hash = ANY($2::bytea[])",
            service_id,
            self._sealer.lookup_hashes(number),
        )
        return row is not None

    async def purge_expired(self) -> int:
        total = 0
        for _ in range(100):  # bounded; housekeeping comes back for the rest
            gone = affected(await self._pipe.execute(_PURGE_SQL, PURGE_BATCH))
            total += gone
            if gone < PURGE_BATCH:
                break
        return total

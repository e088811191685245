"""Complaints: record SES complaint receipts in ``complaints``, once each.

Rules:
- One statement per batch (``INSERT ... SELECT FROM unnest``), joined to ``notifications``
  on the provider reference. Complaints are rare, so this runs through the store's plain
  pipe rather than a group-commit writer.
- The complaint id is derived from (reference, complaint time): SNS and SQS deliver at
  least once, and a redelivered complaint hits ``ON CONFLICT DO NOTHING``. Only rows really
  inserted are returned, so a complaint callback is sent once per complaint.
- A complaint whose reference matches no notification is dropped (counted by the caller):
  by the time a recipient complains, the reference has long been committed.
- The returned ``ComplaintRow`` carries everything the complaint callback needs
  (contract §3.4: notification_id, complaint_id, reference, to, complaint_date).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import msgspec

from engine.providers.base import Receipt
from engine.store._pipe import Pipe
from engine.store.sealing import Sealer

# Fixed namespace: the same complaint must map to the same id on every engine.
COMPLAINT_NAMESPACE = uuid.UUID("6f1d6c3e-3c1b-4b7e-9a55-2f0c8f4d9b21")

_INSERT_SQL = """
WITH c AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
        AS c(id, reference, feedback_type, complaint_date)
), ins AS (
    INSERT INTO complaints (id, notification_id, service_id, feedback_type, complaint_date)
    SELECT c.id, n.id, n.service_id, c.feedback_type, c.complaint_date
    FROM c JOIN notifications n ON n.provider_reference = c.reference
    ON CONFLICT (id) DO NOTHING
    RETURNING id, notification_id, feedback_type, complaint_date
)
SELECT ins.id, ins.notification_id, n.service_id, n.client_reference, n.recipient,
       n.notification_type, ins.feedback_type, ins.complaint_date,
       n.provider_reference
FROM ins JOIN notifications n ON n.id = ins.notification_id
"""


class ComplaintRow(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID  # the complaint_id of the complaint callback
    notification_id: uuid.UUID
    service_id: uuid.UUID
    client_reference: str | None
    recipient: str
    notification_type: str
    feedback_type: str | None
    complaint_date: dt.datetime
    provider_reference: str


def complaint_id(receipt: Receipt) -> uuid.UUID:
    return uuid.uuid5(COMPLAINT_NAMESPACE, f"{receipt.reference}|{receipt.at.isoformat()}")


class Complaints:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def record(self, receipts: Sequence[Receipt]) -> list[ComplaintRow]:
        """Insert the complaints not seen before; return the rows inserted."""
        unique = {complaint_id(r): r for r in receipts if r.complaint}
        if not unique:
            return []
        rows = await self._pipe.fetch(
            _INSERT_SQL,
            list(unique),
            [r.reference for r in unique.values()],
            [r.feedback_type for r in unique.values()],
            [r.at for r in unique.values()],
        )
        opened = (self._sealer.notification(row, "notification_id") for row in rows)
        return [ComplaintRow(**row) for row in opened]

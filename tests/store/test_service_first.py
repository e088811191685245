"""Shape for a distributed database (issue 21; README, "Distribution plan"): every
hot-path statement on ``notifications`` names the service, the distribution column, and
binds it to the caller's service. One statement is allowed not to: the receipt lookup by
provider reference (``RECEIPT_LOOKUP_SQL``), because an SES or SNS event carries only the
provider's message id; it answers with the service, which the receipt's status write then
names. Checked on the SQL text and the arguments each statement is sent with (a recording
pipe stands in for the database: this machine cannot run Citus), and on a real database
(a status write naming another service changes nothing)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from engine.crypto import DataKeys
from engine.domain import notification as nt
from engine.domain import statuses as st
from engine.domain.timestamps import utcnow
from engine.providers.base import Receipt
from engine.store import notifications as notifications_module
from engine.store._pipe import Pipe
from engine.store.notifications import (
    _UPDATE_SQL,
    RECEIPT_LOOKUP_SQL,
    Notifications,
    StatusUpdate,
    _update_columns,
)
from engine.store.retention import Retention
from engine.store.sealing import Sealer
from engine.store.store import Store
from engine.store.unmatched_receipts import receipt_update
from tests import sql
from tests.store.test_sealing import KEY_A
from tests.store.test_store import make_row

# The one statement on notifications allowed not to name the service (module docstring).
EXCEPTIONS = {"RECEIPT_LOOKUP_SQL"}


class RecordingPipe(Pipe):
    """Keeps each statement and its arguments; answers nothing found."""

    def __init__(self) -> None:
        self.replica = None
        self.sent: list[tuple[str, tuple[object, ...]]] = []

    async def fetch(self, sql: str, *args: object, keyed: bool = False) -> list[Any]:
        self.sent.append((sql, args))
        return []

    async def fetchrow(self, sql: str, *args: object) -> Any:
        self.sent.append((sql, args))
        return {"n": 0} if "gone" in sql else None


def _names_service(sql: str, args: tuple[object, ...], service: uuid.UUID) -> bool:
    """``service_id = $k`` in the statement, with argument k the caller's service."""
    return any(args[int(m[1]) - 1] == service for m in re.finditer(r"\bservice_id = \$(\d+)", sql))


async def test_every_v2_read_the_search_the_cancel_and_the_purge_name_the_service() -> None:
    pipe = RecordingPipe()
    notifications = Notifications(pipe, Sealer(DataKeys([KEY_A])))
    service = uuid.uuid4()
    [nid] = nt.new_ids(1, utcnow())
    await notifications.get(service, nid)
    await notifications.cancel(service, nid)
    await notifications.schedule_of(service, nid)
    await notifications.by_recipient(service, "someone@example.com")
    await notifications.page(
        service, "normal", types=["email"], statuses=["delivered"], reference="r",
        include_jobs=False, older_than=nid, limit=50,
    )  # fmt: skip
    await Retention(pipe).purge_batch(service, "email", utcnow() - dt.timedelta(days=7), 100)
    assert len(pipe.sent) == 6
    for sql_text, args in pipe.sent:
        assert _names_service(sql_text, args, service), sql_text
        # ... and by id, the partition key too (one partition of the time-partitioned table).
        if re.search(r"[^_]id = \$", sql_text):
            assert "created_at >= $" in sql_text, sql_text


def test_only_the_receipt_lookup_leaves_the_service_out() -> None:
    # Every statement the module keeps on notifications names service_id; the exception
    # is the lookup by provider reference, and it answers with the service.
    statements = {
        name: value
        for name, value in vars(notifications_module).items()
        if isinstance(value, str)
        and not name.startswith("__")
        and re.search(r"\b(FROM|INTO|UPDATE) notifications\b", value)
    }
    assert {"INSERT_SQL", "INSERT_WITH_URL_SQL", "_UPDATE_SQL", "_CANCEL_SQL"} <= set(statements)
    for name, text in statements.items():
        if name in EXCEPTIONS:
            assert not re.search(r"\bservice_id\s*=", text), name
            assert text.startswith("SELECT provider_reference, id, service_id FROM"), name
        elif text.startswith("INSERT"):
            assert "service_id" in text.split("SELECT", 1)[0], name  # a column it writes
        else:
            assert re.search(r"\bservice_id = ", text), name  # a condition it binds
    assert "WHERE provider_reference = ANY($1::text[])" in RECEIPT_LOOKUP_SQL


def test_status_writes_bind_the_service_of_each_update() -> None:
    assert "n.service_id = u.service_id" in _UPDATE_SQL
    services = [uuid.uuid4(), uuid.uuid4()]
    ids = nt.new_ids(2, utcnow())
    updates = [
        StatusUpdate(id=i, status=st.SENDING, at=utcnow(), service_id=s)
        for i, s in zip(ids, services, strict=True)
    ]
    columns = _update_columns(updates)
    # The unnest's argument named service_id carries each update's service, in order.
    unnest, names = _UPDATE_SQL.split(" AS u(", 1)
    positions = [int(n) for n in re.findall(r"\$(\d+)::", unnest)]
    fields = [f.strip() for f in names.split(")", 1)[0].split(",")]
    assert columns[positions[fields.index("service_id")] - 1] == services
    # A receipt's write names the service its lookup answered with.
    found = {"id": ids[0], "service_id": services[0], "provider_reference": "ses-1"}
    receipt = Receipt(reference="ses-1", status=st.DELIVERED, at=utcnow(), provider="ses")
    assert receipt_update(found, receipt).service_id == services[0]


async def test_a_status_write_naming_another_service_changes_nothing(store: Store) -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    [nid] = nt.new_ids(1, utcnow())
    await store.insert_notifications([make_row(id=nid, service_id=mine)])
    wrong = StatusUpdate(id=nid, status=st.SENDING, at=utcnow(), service_id=other)
    assert await store.update_statuses([wrong]) == []
    right = StatusUpdate(id=nid, status=st.SENDING, at=utcnow(), service_id=mine)
    [change] = await store.update_statuses([right])
    assert (change.id, change.previous_status, change.status) == (nid, st.CREATED, st.SENDING)
    # A receipt learns the service from its lookup and applies.
    reference = StatusUpdate(
        id=nid, status=st.SENDING, at=utcnow(), provider_reference="ses-abc", service_id=mine
    )
    await store.update_statuses([reference])
    receipt = Receipt(reference="ses-abc", status=st.DELIVERED, at=utcnow(), provider="ses")
    [matched], [applied] = await store.apply_receipts([receipt])
    assert matched
    assert applied.status == st.DELIVERED
    row = await sql.fetchrow(store, "SELECT status FROM notifications WHERE id = $1", nid)
    assert row["status"] == st.DELIVERED

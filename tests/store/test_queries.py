"""The store's named queries: the rules they carry beyond plain reads and writes."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, cast

import pytest

from engine.domain import statuses as st
from engine.domain.notification import new_ids
from engine.domain.timestamps import utcnow
from engine.store._pipe import Pipe
from engine.store.callbacks import CLAIM_SQL as CALLBACK_CLAIM_SQL
from engine.store.callbacks import RELEASE_SQL, SETTLE_SQL
from engine.store.notifications import MAY_REPLACE, StatusUpdate
from engine.store.sealing import Sealer
from engine.store.services import Services
from engine.store.store import Store
from engine.store.unmatched_receipts import CLAIM_SQL
from tests import sql
from tests.actors.test_callbacks import add_service
from tests.store.test_store import make_row


class RecordingPipe:
    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def execute(self, sql: str, *args: Any, keyed: bool = False) -> str:
        self.statements.append((sql, args))
        return "UPDATE 1"


async def test_a_service_update_names_only_known_settings() -> None:
    pipe = RecordingPipe()
    services = Services(cast(Pipe, pipe), Sealer(None))
    with pytest.raises(ValueError, match="not a service setting: id"):
        await services.update(uuid.uuid4(), {"id": uuid.uuid4(), "name": "x"})
    await services.update(uuid.uuid4(), {})
    assert pipe.statements == []  # nothing written for a refused or empty update
    await services.update(uuid.uuid4(), {"rate_limit": 5})
    [(statement, args)] = pipe.statements
    assert "rate_limit = $2" in statement
    assert args[1:] == (5,)


async def test_cancel_follows_the_transition_table(store: Store) -> None:
    assert MAY_REPLACE[st.CANCELLED] == (st.CREATED,)
    later = utcnow() + dt.timedelta(hours=1)
    waiting = make_row(scheduled_for=later)
    handed_over = make_row(scheduled_for=later)
    await store.insert_notifications([waiting, handed_over])
    await store.update_statuses([StatusUpdate(id=handed_over.id, status=st.SENDING, at=utcnow())])

    cancelled = await store.notifications.cancel(waiting.service_id, waiting.id)
    assert cancelled is not None
    assert cancelled["status"] == st.CANCELLED
    assert await store.notifications.cancel(waiting.service_id, waiting.id) is None  # once
    assert await store.notifications.cancel(handed_over.service_id, handed_over.id) is None
    refused = await store.notifications.schedule_of(handed_over.service_id, handed_over.id)
    assert refused is not None
    assert refused["status"] == st.SENDING
    # A cancelled row moves no further: no transition replaces `cancelled`.
    changes = await store.update_statuses(
        [StatusUpdate(id=waiting.id, status=st.SENDING, at=utcnow())]
    )
    assert changes == []


async def test_stuck_finds_old_rows_in_the_given_statuses_only(store: Store) -> None:
    old = utcnow() - dt.timedelta(days=4)
    stuck = make_row(created_at=old)
    recent = make_row()
    await store.insert_notifications([stuck, recent])
    cutoff = utcnow() - dt.timedelta(days=3)
    assert await store.recovery.stuck([st.CREATED], created_before=cutoff) == [stuck.id]
    assert await store.recovery.stuck([st.SENDING], created_before=cutoff) == []
    await sql.execute(store, "UPDATE notifications SET status = 'sending' WHERE id = $1", stuck.id)
    assert await store.recovery.stuck([st.SENDING], created_before=cutoff) == [stuck.id]


async def test_the_list_pages_through_a_job_whose_rows_share_their_created_time(
    store: Store,
) -> None:
    # A bulk job's rows share one created_at; the v2 list and the console's activity
    # page in (created_at, id) order, so a page edge inside the job must not skip the
    # rest of it (the cursor compared created_at alone: the second page came back empty).
    service_id, job_id, at = uuid.uuid4(), uuid.uuid4(), utcnow()
    ids = new_ids(7, at)
    await store.insert_notifications(
        [
            make_row(id=i, service_id=service_id, job_id=job_id, job_row_number=n, created_at=at)
            for n, i in enumerate(ids)
        ]
    )
    newest_first = sorted(ids, reverse=True)
    for name, read in (
        ("v2 list", lambda older: store.notifications.page(
            service_id, "normal", types=[], statuses=[], reference=None,
            include_jobs=True, older_than=older, limit=3)),
        ("activity", lambda older: store.notifications.activity(
            service_id, types=[], statuses=[], reference=None, older_than=older, limit=3)),
    ):  # fmt: skip
        seen: list[uuid.UUID] = []
        older = None
        for _ in range(5):  # 7 rows, 3 a page: 3 pages and an empty one
            rows = await read(older)
            if not rows:
                break
            seen += [r["id"] for r in rows]
            older = rows[-1]["id"]
        assert seen == newest_first, name


async def test_the_unmatched_receipt_sweep_reads_no_more_as_the_table_grows(store: Store) -> None:
    # The sweep's claim looks each kept receipt's reference up in every partition's index;
    # it must never read every notification that has a reference (a hash join the planner
    # chose over the partitions: ~2,000 buffers a sweep at 9,000 sent rows in bench/e2e.py,
    # growing with the table, twice a second).
    at = utcnow()
    sent = [make_row(id=i, created_at=at) for i in new_ids(4000, at)]
    await store.insert_notifications(sent)
    await store.update_statuses([
        StatusUpdate(id=r.id, status=st.SENDING, at=at, provider="ses",
                     provider_reference=f"ref-{r.id.hex}", service_id=r.service_id)
        for r in sent
    ])  # fmt: skip
    await sql.execute(store, "ANALYZE notifications")
    for reference in (f"ref-{sent[7].id.hex}", "ref-unknown"):  # one matches, one not yet
        await sql.execute(
            store, "INSERT INTO unmatched_receipts (reference, receipt) VALUES ($1, '{}')",
            reference, keyed=True,
        )  # fmt: skip
    [plan] = await sql.fetch(
        store, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {CLAIM_SQL}", 1000, keyed=True
    )
    top = json.loads(plan[0])[0]
    assert top["Plan"]["Actual Rows"] == 1  # the matched receipt only
    buffers = top["Plan"]["Shared Hit Blocks"] + top["Plan"]["Shared Read Blocks"]
    assert buffers < 150, buffers  # index probes per kept receipt, not the sent rows


async def test_the_callback_claim_reads_no_more_as_the_queue_grows(store: Store) -> None:
    # A backlog (a slow receiver, a suspension lifted) must not make each claim read all of
    # it: the claim takes the oldest due rows in queue order and stops at its limit. The
    # planner once estimated one row past the suspension checks and sorted the whole
    # backlog instead (138,000 buffers a claim at 43,000 owed in bench/e2e.py).
    service_id = await add_service(store, "https://example.com/cb")
    await sql.execute(
        store,
        "INSERT INTO callback_queue (service_id, callback_type, notification_id, status,"
        " notification_type, recipient) SELECT $1, 'delivery_status', gen_random_uuid(),"
        " 'delivered', 'email', 'sealed' FROM generate_series(1, 20000)",
        service_id,
    )
    # With fresh statistics the suspension tables say "no suspended row": the plan that
    # misjudged it (one owed row estimated past the checks) needs them.
    for table in ("callback_queue", "service_callbacks", "callback_origins", "workers"):
        await sql.execute(store, f"ANALYZE {table}")
    [plan] = await sql.fetch(
        store,
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {CALLBACK_CLAIM_SQL}",
        uuid.uuid4(), 100, [],
        keyed=True,
    )  # fmt: skip
    top = json.loads(plan[0])[0]
    assert top["Plan"]["Actual Rows"] == 100
    buffers = top["Plan"]["Shared Hit Blocks"] + top["Plan"]["Shared Read Blocks"]
    assert buffers < 2000, buffers  # about the rows claimed, not the 20,000 owed


@pytest.mark.parametrize("which", ["settle", "release"])
@pytest.mark.parametrize("history", ["plan made on a small queue", "statistics before claims"])
async def test_settling_callbacks_reads_the_settled_rows_only(
    store: Store, which: str, history: str
) -> None:
    # Each delivered callback is deleted (each retry given back) by (seq, owner) pairs, 20
    # to 100 at a time, on the keyed pool's generic plans, made once per connection. A plan
    # made while the queue was small read the key from its start as the queue grew; with
    # statistics from before the claims, a partial owner index looked small and gave every
    # owned row: 400-800 buffers a batch in bench/e2e.py (24 per callback, 8.7 s of
    # PostgreSQL per 100,000 notifications) instead of key probes.
    service_id = await add_service(store, "https://example.com/cb")
    owner = uuid.uuid4()
    await sql.execute(store, "ALTER TABLE callback_queue SET (autovacuum_enabled = false)")
    owe = (
        "INSERT INTO callback_queue (service_id, callback_type, notification_id, status,"
        " notification_type, recipient, owner) SELECT $1, 'delivery_status',"
        " gen_random_uuid(), 'delivered', 'email', 'sealed', $2 FROM generate_series(1, $3)"
    )
    statement = SETTLE_SQL if which == "settle" else RELEASE_SQL

    def batch(seqs: list[int], owners: list[uuid.UUID]) -> tuple[object, ...]:
        n = len(seqs)
        return (seqs, owners) if which == "settle" else (seqs, [1] * n, [5.0] * n, owners)

    async def newest() -> list[int]:
        rows = await sql.fetch(store, "SELECT seq FROM callback_queue ORDER BY seq DESC LIMIT 20")
        return sorted(r["seq"] for r in rows)  # settled rows are the newest

    owners = [owner] * 19 + [uuid.uuid4()]  # the last pair names someone else: fenced off
    if history == "plan made on a small queue":
        await sql.execute(store, owe, service_id, owner, 200)
        await sql.execute(store, "ANALYZE callback_queue")
        async with sql.KeyedStatement(store, statement) as kept:
            await kept.run(*batch(await newest(), [owner] * 20))  # the plan is made here
            await sql.execute(store, owe, service_id, owner, 20000)  # the queue grows
            seqs = await newest()
            top = await kept.plan(*batch(seqs, owners))
    else:
        await sql.execute(store, owe, service_id, None, 20000)
        await sql.execute(store, "ANALYZE callback_queue")  # nothing claimed yet
        await sql.execute(store, "UPDATE callback_queue SET owner = $1", owner)  # then all
        seqs = await newest()
        async with sql.KeyedStatement(store, statement) as kept:
            top = await kept.plan(*batch(seqs, owners))
    [found] = top["Plan"]["Plans"]  # finding the rows; writing them is the same either way
    buffers = found["Shared Hit Blocks"] + found["Shared Read Blocks"]
    assert buffers < 150, buffers  # key probes for 20 rows, not the 20,000 owned
    left = await sql.fetch(
        store, "SELECT owner, attempts FROM callback_queue WHERE seq = ANY($1::bigint[])"
        " ORDER BY seq", seqs,
    )  # fmt: skip
    kept_rows = [(r["owner"], r["attempts"]) for r in left]
    if which == "settle":
        assert kept_rows == [(owner, 0)]  # 19 deleted; the fenced row stays its owner's
    else:
        assert kept_rows == [(None, 1)] * 19 + [(owner, 0)]

"""The scanner's memory bound and its claims (engine.actors.scanner), on a real store and
a scanner client held in the test's hand (the ``Client`` seam)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import trio

from engine.actors.ownership import Ownership
from engine.actors.scanner import ScanJob, Scanner
from engine.domain import statuses as st
from engine.domain.clamd import ScanError, Verdict
from engine.store.documents import NewDocument
from engine.store.store import Store
from tests import sql
from tests.store.test_store import make_row

MIB = 1024 * 1024


class HeldClient:
    """Answers clean once ``release`` is set; counts scans in flight and their peak."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.in_flight = 0
        self.scanned = 0
        self.fail = False

    async def scan(self, data: bytes) -> Verdict:
        if self.fail:
            raise ScanError("clamd is down")
        self.in_flight += 1
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        self.scanned += 1
        return Verdict(True)


async def waiting_rows(store: Store, owner: uuid.UUID, count: int) -> list[uuid.UUID]:
    """``count`` notifications waiting for a scan, each with a 1 MiB file, owned by ``owner``."""
    service_id = uuid.uuid4()
    rows = [make_row(service_id=service_id, status=st.PENDING_VIRUS_CHECK, owner=owner)
            for _ in range(count)]  # fmt: skip
    for row in rows:
        await store.documents.insert(
            service_id, row.id,
            [NewDocument(id=uuid.uuid4(), personalisation_key="f", filename="f.pdf",
                         mime_type="application/pdf", sending_method="attach",
                         content=b"%PDF" + bytes(MIB - 4))],
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1), scan="pending",
        )  # fmt: skip
    await store.insert_notifications(rows)
    return [r.id for r in rows]


async def test_a_burst_beyond_the_bound_waits_in_the_database(store: Store) -> None:
    ownership = Ownership(store.recovery, dead_after=30)
    await ownership.register()
    owner = ownership.owner
    client = HeldClient()
    requeued: list[uuid.UUID] = []
    sent: list[uuid.UUID] = []
    all_sent = trio.Event()

    async def requeue(rows: Sequence[Any]) -> int:
        requeued.extend(r["id"] for r in rows)
        if len(sent) + len(requeued) == 12:
            all_sent.set()
        return len(rows)

    async def on_changes(changes: Sequence[Any]) -> None:
        pass

    scanner = Scanner(store, client, lambda: owner, requeue, on_changes, concurrency=2,
                      queue=100, queue_bytes=4 * MIB, claim_every=0.2)  # fmt: skip
    ids = await waiting_rows(store, owner, 12)

    def on_clean(nid: uuid.UUID) -> Any:
        async def go() -> None:
            sent.append(nid)
            if len(sent) + len(requeued) == 12:
                all_sent.set()

        return go

    async with trio.open_nursery() as nursery:
        await nursery.start(scanner.run)
        accepted = [scanner.submit(ScanJob(nid, owner, [b"%PDF" + bytes(MIB - 4)], on_clean(nid)))
                    for nid in ids]  # fmt: skip
        # The mailbox and the two workers hold 4 MiB: the other rows wait in the database.
        assert accepted.count(True) == 4
        assert scanner.held_bytes == 4 * MIB
        with trio.fail_after(10):
            while True:
                owned = await sql.fetch(store, "SELECT id FROM notifications WHERE owner IS NULL")
                if len(owned) == 8:
                    break
                await trio.sleep(0.02)
        assert scanner.held_bytes <= 4 * MIB
        client.release.set()
        with trio.fail_after(20):
            await all_sent.wait()
        nursery.cancel_scope.cancel()
    assert sorted(sent + requeued) == sorted(ids)  # each sent once: 4 from memory, 8 claimed
    assert len(sent) == 4
    assert client.scanned == 12
    left = await sql.fetch(store, "SELECT status FROM notifications")
    assert {r["status"] for r in left} == {st.CREATED}
    docs = await sql.fetch(store, "SELECT DISTINCT scan FROM documents")
    assert [d["scan"] for d in docs] == ["clean"]


async def test_no_verdict_holds_the_job_and_reports_a_problem(store: Store) -> None:
    ownership = Ownership(store.recovery, dead_after=30)
    await ownership.register()
    owner = ownership.owner
    client = HeldClient()
    client.fail = True

    async def requeue(rows: Sequence[Any]) -> int:
        return 0

    async def on_changes(changes: Sequence[Any]) -> None:
        pass

    scanner = Scanner(store, client, lambda: owner, requeue, on_changes, retry_min=0.05,
                      retry_max=0.1, claim_every=0.2)  # fmt: skip
    done = trio.Event()

    async def sent() -> None:
        done.set()

    [nid] = await waiting_rows(store, owner, 1)
    async with trio.open_nursery() as nursery:
        await nursery.start(scanner.run)
        scanner.submit(ScanJob(nid, owner, [b"%PDF-1.4"], sent))
        with trio.fail_after(5):
            while True:  # the scanner has no event for it: /_status/ready polls too
                if scanner.problem() is not None:
                    break
                await trio.sleep(0.02)
        assert "clamd is down" in str(scanner.problem())
        [row] = await sql.fetch(store, "SELECT status FROM notifications WHERE id = $1", nid)
        assert row["status"] == st.PENDING_VIRUS_CHECK
        client.fail = False
        client.release.set()
        with trio.fail_after(5):
            await done.wait()
        assert scanner.problem() is None
        nursery.cancel_scope.cancel()

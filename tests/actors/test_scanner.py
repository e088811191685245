"""The scanner's memory bound and its claims (engine.actors.scanner), on a real store and
a scanner client held in the test's hand (the ``Client`` seam)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import trio

from engine.actors.ownership import Ownership
from engine.actors.scanner import FILES_MISSING, GAVE_UP, ScanJob, Scanner
from engine.config import load_settings
from engine.domain import statuses as st
from engine.domain.clamd import ScanError, Verdict
from engine.domain.timestamps import utcnow
from engine.store.documents import NewDocument
from engine.store.store import Store
from tests import sql
from tests.actors.test_callbacks import add_service
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


async def waiting_row(
    store: Store, service_id: uuid.UUID, *, owner: uuid.UUID | None, created_at: dt.datetime,
    expires_at: dt.datetime,
) -> uuid.UUID:  # fmt: skip
    """One notification waiting for a scan with one small file."""
    row = make_row(service_id=service_id, status=st.PENDING_VIRUS_CHECK, owner=owner,
                   created_at=created_at)  # fmt: skip
    await store.documents.insert(
        service_id, row.id,
        [NewDocument(id=uuid.uuid4(), personalisation_key="f", filename="f.pdf",
                     mime_type="application/pdf", sending_method="attach",
                     content=b"%PDF-1.4")],
        expires_at=expires_at, scan="pending",
    )  # fmt: skip
    await store.insert_notifications([row])
    return row.id


async def owed_callback(store: Store, nid: uuid.UUID) -> tuple[str, str | None]:
    [row] = await sql.fetch(
        store, "SELECT status, provider_response FROM callback_queue WHERE notification_id = $1",
        nid,
    )  # fmt: skip
    return row["status"], row["provider_response"]


async def test_a_row_whose_files_are_gone_ends_technical_failure_and_is_not_sent(
    store: Store,
) -> None:
    # Its file expired while it waited (a process died holding it): the expiry
    # housekeeping deleted it. An empty list of files is not "every file clean".
    sid = await add_service(store, "https://example.com/status")
    now = utcnow()
    nid = await waiting_row(store, sid, owner=None, created_at=now,
                            expires_at=now - dt.timedelta(seconds=1))  # fmt: skip
    assert await store.documents.delete_expired() == 1
    ownership = Ownership(store.recovery, dead_after=30)
    await ownership.register()
    client = HeldClient()
    client.release.set()  # clamd answers clean, whatever it is given
    requeued: list[uuid.UUID] = []
    changed: list[Any] = []
    decided = trio.Event()

    async def requeue(rows: Sequence[Any]) -> int:
        requeued.extend(r["id"] for r in rows)
        decided.set()
        return len(rows)

    async def on_changes(changes: Sequence[Any]) -> None:
        changed.extend(changes)
        decided.set()

    scanner = Scanner(store, client, lambda: ownership.owner, requeue, on_changes,
                      claim_every=0.2)  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(scanner.run)
        with trio.fail_after(10):
            await decided.wait()
        nursery.cancel_scope.cancel()
    assert requeued == []  # never handed to its lane: nothing sent
    assert [(c.id, c.status) for c in changed] == [(nid, st.TECHNICAL_FAILURE)]
    [row] = await sql.fetch(
        store, "SELECT status, provider_response FROM notifications WHERE id = $1", nid
    )
    assert (row["status"], row["provider_response"]) == (st.TECHNICAL_FAILURE, FILES_MISSING)
    assert await owed_callback(store, nid) == (st.TECHNICAL_FAILURE, FILES_MISSING)
    assert client.scanned == 0


async def test_a_row_waiting_past_the_give_up_ends_technical_failure(store: Store) -> None:
    hours = load_settings({}).scan_give_up_hours
    assert hours == 72
    ownership = Ownership(store.recovery, dead_after=30)
    await ownership.register()
    owner = ownership.owner
    changed: list[Any] = []

    async def requeue(rows: Sequence[Any]) -> int:
        raise AssertionError("nothing is sent")

    async def on_changes(changes: Sequence[Any]) -> None:
        changed.extend(changes)

    scanner = Scanner(store, HeldClient(), lambda: owner, requeue, on_changes,
                      give_up_after=hours * 3600)  # fmt: skip
    sid = await add_service(store, "https://example.com/status")
    t0 = utcnow().replace(microsecond=0) - dt.timedelta(minutes=5)
    keep = t0 + dt.timedelta(days=7)
    # Owned by a live process (a worker retrying it while clamd is down): ended all the same.
    stuck = await waiting_row(store, sid, owner=owner, created_at=t0, expires_at=keep)
    later = await waiting_row(store, sid, owner=None, created_at=t0 + dt.timedelta(minutes=1),
                              expires_at=keep)  # fmt: skip

    assert await scanner.give_up(t0 + dt.timedelta(hours=hours)) == 0  # not past it yet
    assert await scanner.give_up(t0 + dt.timedelta(hours=hours, seconds=1)) == 1
    assert [(c.id, c.status) for c in changed] == [(stuck, st.TECHNICAL_FAILURE)]
    rows = await sql.fetch(store, "SELECT id, status, provider_response FROM notifications")
    assert {r["id"]: (r["status"], r["provider_response"]) for r in rows} == {
        stuck: (st.TECHNICAL_FAILURE, GAVE_UP),
        later: (st.PENDING_VIRUS_CHECK, None),
    }
    assert await owed_callback(store, stuck) == (st.TECHNICAL_FAILURE, GAVE_UP)
    docs = await sql.fetch(store, "SELECT notification_id FROM documents")
    assert [d["notification_id"] for d in docs] == [later]  # the ended row's files are gone
    # A clean verdict that arrives afterwards changes nothing: it is never sent.
    assert await store.scans.clean(owner, [stuck]) == {}
    # Asked again at the same time: nothing more to end (the ended row is not counted twice).
    assert await scanner.give_up(t0 + dt.timedelta(hours=hours, seconds=1)) == 0

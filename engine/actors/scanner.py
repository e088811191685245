"""The scanner: every file a notification carries is scanned by clamd before it may be sent.

Flow (issue 25): the API writes a notification with files as ``pending-virus-check``
(owned by this process, its files ``scan = 'pending'``), answers 201, and hands the job
here (``submit``). A worker streams each file to clamd (``engine.providers.clamd``):
- every file clean: the row becomes ``created`` and its files ``clean`` in one statement
  (``engine.store.scans``), and the message goes to its service's lane as any other (a
  scheduled one waits for recovery's scheduled sweep);
- a file infected: the row ends ``virus-scan-failed`` (the callback is queued by the same
  statement) and its files are deleted, so no link ever serves them;
- no verdict (clamd down, refusing, timing out): the job is held and tried again with
  backoff (``retry_min`` doubling to ``retry_max``); ``notify_virus_scanner_up`` is 0 and
  ``problem()`` tells ``/_status/ready`` until a scan gets a verdict again. A file is never
  sent without a clean verdict;
- no files (the row's documents are gone: past their expiry, deleted by hand, or never
  written): nothing can be shown clean, so nothing is sent. Sending the message without
  its files (what an empty list of files used to mean: "every file clean") would deliver
  an email whose attachments or links are missing, reported ``delivered``. The row ends
  ``technical-failure`` with ``provider_response`` ``FILES_MISSING``, which the
  delivery-status callback carries (queued by the same statement), so the service knows
  to send it again;
- waiting too long: a row still ``pending-virus-check`` ``give_up_after`` seconds after it
  was created (NOTIFY_SCAN_GIVE_UP_HOURS, 72 h: the 3 days after which recovery times out
  a row that was never sent, ``engine.actors.recovery``; a weekend's clamd outage; well
  within the 7 days a file is kept at least, so its files are still there to delete) ends
  ``technical-failure`` with ``GAVE_UP`` and loses its files: it is never sent unscanned,
  and the service hears of it rather than waiting forever. ``give_up`` runs at most once a
  minute in the claim loop, whoever owns the rows and whether clamd answers or not; every
  later write of a scan (clean, infected, release) is conditional on
  ``pending-virus-check``, so a verdict arriving afterwards changes nothing.

Rules:
- Bounded memory: the mailbox holds at most ``queue`` jobs and ``queue_bytes`` bytes of
  files (a single larger job is taken when the queue is empty). A job that does not fit
  is not kept: its row is released (owner NULL) and stays in the database.
- Safe with many processes and crashes: ``claim`` picks up rows waiting for a scan that
  nobody alive owns (released ones, a dead process's), only as many as fit, every
  ``claim_every`` seconds, and at once when the queue is half empty again while rows are
  known to wait (a job did not fit, or the last claim filled the room); their files are
  read back from the store. Writes are fenced by
  the owner the job was claimed under (``engine.domain.ownership``): a row another process
  took meanwhile is left to it (it scans it again: a second scan is harmless).
- ``concurrency`` workers (clamd's threads are the real bound); each scans one job's files
  in turn. A job that cannot be finished (an unexpected error, a database outage longer
  than its retries) gives its row back (owner NULL) instead of holding it until the
  process stops: another claim scans it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from engine.domain import statuses as st
from engine.domain.clamd import ScanError, TooLarge, Verdict
from engine.domain.timestamps import utcnow
from engine.metrics import (
    VIRUS_SCAN_QUEUE_BYTES,
    VIRUS_SCAN_SECONDS,
    VIRUS_SCANNER_UP,
    VIRUS_SCANS,
    observe_mailbox,
)
from engine.store.errors import DatabaseUnavailable
from engine.store.notifications import StatusUpdate
from engine.store.store import Store

log = logging.getLogger("engine.scanner")

# ``provider_response`` of a row ended without a verdict (the callback carries it).
FILES_MISSING = "Files missing before their virus scan: not sent"
GAVE_UP = "Virus scan not done in time: not sent"
_GIVE_UP_EVERY = 60.0  # seconds between two looks for rows waiting too long
_GIVE_UP_BATCH = 1000  # rows ended per look (bounded; the next look takes the rest)


class Client(Protocol):
    """What the scanner needs of a clamd client (``engine.providers.clamd.ClamdClient``)."""

    async def scan(self, data: bytes) -> Verdict: ...


@dataclass(slots=True)
class ScanJob:
    notification_id: uuid.UUID
    owner: uuid.UUID  # the registration the row is owned under (the fence)
    files: Sequence[bytes]
    # After the clean verdict: hand the message to its lane (the API built it already).
    on_clean: Callable[[], Awaitable[None]]

    @property
    def size(self) -> int:
        return sum(len(f) for f in self.files)


Requeue = Callable[[Sequence[Any]], Awaitable[int]]
OnChanges = Callable[[Sequence[Any]], Awaitable[None]]


class Scanner:
    def __init__(
        self,
        store: Store,
        client: Client,
        owner: Callable[[], uuid.UUID],
        requeue: Requeue,
        on_changes: OnChanges,
        *,
        concurrency: int = 4,
        queue: int = 64,
        queue_bytes: int = 64 * 1024 * 1024,
        claim_every: float = 5.0,
        retry_min: float = 1.0,
        retry_max: float = 15.0,
        give_up_after: float = 72 * 3600.0,
    ) -> None:
        self.store = store
        self.client = client
        self._owner = owner
        self._requeue = requeue
        self._on_changes = on_changes
        self._concurrency = concurrency
        self._queue_bytes = queue_bytes
        self._claim_every = claim_every
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._give_up_after = give_up_after
        self._give_up_next = -float("inf")  # trio.current_time() of the next look
        self._send, self._receive = trio.open_memory_channel[ScanJob](queue)
        self._release_send, self._release_recv = trio.open_memory_channel[
            tuple[uuid.UUID, uuid.UUID]
        ](100_000)
        self.held_bytes = 0  # files in the mailbox and in the workers' hands
        self.failing_since: float | None = None
        self.last_error = ""
        self._claim_now = trio.Event()
        # Rows may wait in the database (a job did not fit, or a claim filled the room):
        # the workers wake the claimer as soon as the queue has room again.
        self._backlog = False
        self._mean_size = 0.0  # of recent jobs (a moving average), for claims' sizes

    # -- intake ---------------------------------------------------------------------------
    def submit(self, job: ScanJob) -> bool:
        """Queue a job (never blocks). False: no room; its row is released to the database
        (claimed again once there is room)."""
        self._mean_size = (
            job.size if not self._mean_size else 0.9 * self._mean_size + 0.1 * job.size
        )
        if self._fits(job.size):
            try:
                self._send.send_nowait(job)
            except trio.WouldBlock:
                pass
            else:
                self.held_bytes += job.size
                VIRUS_SCAN_QUEUE_BYTES.set(self.held_bytes)
                return True
        self._backlog = True
        self._release(job.owner, job.notification_id)
        return False

    def _release(self, owner: uuid.UUID, notification_id: uuid.UUID) -> None:
        try:
            self._release_send.send_nowait((owner, notification_id))
        except trio.WouldBlock:
            # Still safe: the row keeps our id and is claimed after we die or restart.
            log.warning("scan release queue full", extra={"id": str(notification_id)})

    def _fits(self, size: int) -> bool:
        return self.held_bytes == 0 or self.held_bytes + size <= self._queue_bytes

    def _room(self) -> int:
        """How many more jobs fit: by count, and by bytes at the recent jobs' mean size
        (a claim that overshoots only releases the rows that do not fit)."""
        stats = self._send.statistics()
        by_count = int(stats.max_buffer_size - stats.current_buffer_used)
        by_bytes = int((self._queue_bytes - self.held_bytes) // max(self._mean_size, 1.0))
        return max(0, min(by_count, by_bytes))

    def problem(self) -> str | None:
        """For ``/_status/ready``: why files are being held, while they are."""
        if self.failing_since is None:
            return None
        seconds = time.monotonic() - self.failing_since
        return f"virus scanner unavailable for {seconds:.0f} s: {self.last_error}"

    def wake(self) -> None:
        self._claim_now.set()

    # -- running --------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        VIRUS_SCANNER_UP.set(1)
        async with trio.open_nursery() as nursery:
            for _ in range(self._concurrency):
                nursery.start_soon(self._worker)
            nursery.start_soon(self._releaser)
            task_status.started()
            while True:
                try:
                    if trio.current_time() >= self._give_up_next:
                        self._give_up_next = trio.current_time() + _GIVE_UP_EVERY
                        await self.give_up(utcnow())
                    await self.claim()
                except DatabaseUnavailable:
                    pass  # logged once by the store; the next round tries again
                with trio.move_on_after(self._claim_every):
                    await self._claim_now.wait()
                self._claim_now = trio.Event()

    async def claim(self) -> int:
        """Claim rows waiting for a scan that nobody alive owns, as many as fit."""
        claimed = 0
        for _ in range(100):  # bounded: a hundred statements a round
            room = self._room()
            if room <= 0 or self.failing_since is not None:
                return claimed
            owner = self._owner()
            rows = await self.store.scans.claim(owner, limit=room)
            self._backlog = len(rows) == room
            if not rows:
                return claimed
            try:
                files = await self.store.documents.for_scan([r["id"] for r in rows])
            except Exception:
                for row in rows:  # ours now but not held: give them back
                    self._release(owner, row["id"])
                raise
            for row in rows:
                job = ScanJob(
                    notification_id=row["id"],
                    owner=owner,
                    files=files.get(row["id"], []),
                    on_clean=_requeue_one(self._requeue, row),
                )
                self.submit(job)
            claimed += len(rows)
        return claimed

    async def give_up(self, now: dt.datetime) -> int:
        """End the rows created more than ``give_up_after`` seconds before ``now`` and still
        waiting for a scan: ``technical-failure`` (``GAVE_UP``), files deleted. Returns how
        many. Whoever owns them: a worker still retrying one finds it ended."""
        since = now - dt.timedelta(seconds=self._give_up_after)
        ids = await self.store.scans.waiting_since(since, limit=_GIVE_UP_BATCH)
        if not ids:
            return 0
        ended = await self._end(ids, GAVE_UP, owner=None)
        if ended:
            log.error(
                "notifications waited too long for a virus scan: technical-failure",
                extra={"count": ended, "hours": round(self._give_up_after / 3600, 1)},
            )
        return ended

    async def _end(self, ids: Sequence[uuid.UUID], why: str, owner: uuid.UUID | None) -> int:
        """Rows ended ``technical-failure`` without a verdict (``why`` in their
        ``provider_response``): their files go, their callbacks are woken."""
        at = utcnow()
        updates = [
            StatusUpdate(id=i, status=st.TECHNICAL_FAILURE, at=at, provider_response=why,
                         owner=owner)
            for i in ids
        ]  # fmt: skip
        changes = await self.store.update_statuses(updates)
        if changes:
            await self.store.documents.delete_for([c.id for c in changes])
            await self._on_changes(changes)
        return len(changes)

    async def _worker(self) -> None:
        async for job in self._receive:
            try:
                await self._scan(job)
            except Exception:
                # The row is ours but no longer held: give it back rather than leave it
                # until this process stops (the next claim scans it again).
                log.exception("scan failed", extra={"notification_id": str(job.notification_id)})
                self._release(job.owner, job.notification_id)
            finally:
                self.held_bytes -= job.size
                VIRUS_SCAN_QUEUE_BYTES.set(self.held_bytes)
                stats = self._send.statistics()
                observe_mailbox("scanner", stats)
                half = stats.current_buffer_used * 2 <= stats.max_buffer_size
                if self._backlog and half and self.held_bytes * 2 <= self._queue_bytes:
                    self.wake()

    async def _scan(self, job: ScanJob) -> None:
        if not job.files:  # nothing can be shown clean: never sent (the rules above)
            log.error("files missing before their virus scan: technical-failure",
                      extra={"notification_id": str(job.notification_id)})  # fmt: skip
            await self._record(job, None, missing=True)
            return
        delay = self._retry_min
        for _ in range(100_000):  # bounded: at retry_max apart, weeks of outage
            started = time.perf_counter()
            try:
                found = await self._verdict(job.files)
            except ScanError as exc:
                VIRUS_SCANS.labels("error").inc()
                self._failing(exc)
                await trio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            VIRUS_SCAN_SECONDS.observe(time.perf_counter() - started)
            self._answered()
            await self._record(job, found)
            return

    async def _verdict(self, files: Sequence[bytes]) -> str | None:
        """None: every file is clean; else what was found."""
        for data in files:
            try:
                verdict = await self.client.scan(data)
            except TooLarge as exc:
                return f"not scannable: {exc}"  # cannot be shown clean: never sent
            if not verdict.clean:
                return verdict.signature
        return None

    async def _record(self, job: ScanJob, found: str | None, *, missing: bool = False) -> None:
        for attempt in range(600):  # bounded: ten minutes of database outage
            try:
                if missing:
                    await self._end([job.notification_id], FILES_MISSING, job.owner)
                    return
                if found is None:
                    VIRUS_SCANS.labels("clean").inc()
                    changed = await self.store.scans.clean(job.owner, [job.notification_id])
                    if changed.get(job.notification_id):
                        await job.on_clean()
                    return
                VIRUS_SCANS.labels("infected").inc()
                log.warning(
                    "virus found in a file",
                    extra={"notification_id": str(job.notification_id), "signature": found},
                )
                update = StatusUpdate(
                    id=job.notification_id, status=st.VIRUS_SCAN_FAILED, at=utcnow(),
                    owner=job.owner,
                )  # fmt: skip
                changes = await self.store.update_statuses([update])
                if changes:
                    await self.store.documents.delete_for([job.notification_id])
                    await self._on_changes(changes)
                return
            except DatabaseUnavailable:
                await trio.sleep(min(1.0 + attempt, 5.0))
        self._release(job.owner, job.notification_id)  # scanned again once given back

    def _failing(self, exc: Exception) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.error("virus scanner unavailable: files are held", extra={"error": str(exc)})
        self.last_error = str(exc)
        VIRUS_SCANNER_UP.set(0)

    def _answered(self) -> None:
        if self.failing_since is not None:
            log.warning("virus scanner back: held files are scanned")
            self.failing_since = None
            self.wake()
        VIRUS_SCANNER_UP.set(1)

    async def _releaser(self) -> None:
        async for first in self._release_recv:
            pairs = [first]
            while len(pairs) < 1000:
                try:
                    pairs.append(self._release_recv.receive_nowait())
                except trio.WouldBlock:
                    break
            by_owner: dict[uuid.UUID, list[uuid.UUID]] = {}
            for owner, nid in pairs:
                by_owner.setdefault(owner, []).append(nid)
            for owner, ids in by_owner.items():
                for _ in range(600):  # bounded: ten minutes of outage
                    try:
                        await self.store.scans.release(owner, ids)
                        break
                    except DatabaseUnavailable:
                        await trio.sleep(1.0)


def _requeue_one(requeue: Requeue, row: Any) -> Callable[[], Awaitable[None]]:
    async def go() -> None:
        await requeue([row])

    return go

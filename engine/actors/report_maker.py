"""The report maker: a task that writes one requested report's CSV (issue 24), started in
the engine's nursery by the API (``deps.start_soon``), so the request answers 202 at once.

Rules:
- ``make`` claims the report (``engine.store.reports``: the next attempt, with a lease);
  if another process holds it, or it is done, there is nothing to do.
- Rows are read a page at a time (``PAGE`` rows), written as one sealed CSV chunk per
  page, so a report of a million rows never sits in memory: at most one page and its CSV.
  Each chunk renews the lease; losing it (the attempt is no longer the report's) stops
  the task without a word, the new holder writes the report.
- What a report covers and how a row reads: ``engine.domain.reports``; the period ends
  at the service's retention for the channel (a job report: the shorter of the two).
- Any failure marks the attempt ``error`` and is logged, never raised (the task runs in
  the engine's nursery); a process that dies mid-way, or a database that cannot be
  reached, leaves the lease to run out, and the next GET of the report starts it again
  (``engine.api.v2.reports``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING

from engine.domain import reports as rp
from engine.domain import retention
from engine.domain.timestamps import utcnow

if TYPE_CHECKING:
    from engine.services import Registry
    from engine.store.reports import Reports
    from engine.store.retention import Retention
    from engine.store.rows import Row

log = logging.getLogger("engine.reports")

PAGE = 1_000
LEASE_S = 60.0


async def make(
    reports: Reports, periods: Retention, registry: Registry, report_id: uuid.UUID,
    *, page: int = PAGE, lease_s: float = LEASE_S,
) -> None:  # fmt: skip
    """Write the report if it can be claimed. Never raises (it runs in the engine's own
    nursery): a failure is logged, and the report is marked ``error`` or, if even that
    cannot be written (the database is gone), left to its lease."""
    try:
        claimed = await reports.claim(report_id, lease_s=lease_s)
        if claimed is None:
            return
        attempt: int = claimed["attempt"]
        try:
            done = await _write(reports, periods, registry, claimed, page=page, lease_s=lease_s)
        except Exception:
            log.exception("report failed", extra={"report_id": str(report_id)})
            await reports.fail(report_id, attempt)
            return
        if done is not None:
            await reports.finish(report_id, attempt, rows=done, keep_days=rp.DAYS_BEFORE_EXPIRY)
    except Exception:
        log.exception("report left to its lease", extra={"report_id": str(report_id)})


async def _write(
    reports: Reports, periods: Retention, registry: Registry, r: Row, *, page: int,
    lease_s: float,
) -> int | None:  # fmt: skip
    """Write every chunk; the number of rows, or None if the lease was lost."""
    report_id: uuid.UUID = r["id"]
    service_id: uuid.UUID = r["service_id"]
    attempt: int = r["attempt"]
    language: str = r["language"]
    job_id: uuid.UUID | None = r["job_id"]
    kind: str = r["report_type"]
    bundle = await registry.get(service_id)
    time_zone = bundle.service.time_zone if bundle is not None else "UTC"
    now = utcnow()
    days = await periods.periods(service_id)
    channel_days = min(days.values()) if kind == "job" else days[kind]
    since = rp.since(now, retention.cutoff(now.date(), channel_days))
    job = kind == "job"
    seq = 0
    count = 0
    header = [rp.header(language, job=job)]
    before: tuple[dt.datetime, uuid.UUID] = (now, uuid.UUID(int=2**128 - 1))
    after_row = -1
    for _ in range(100_000_000 // page + 1):  # bounded: far past any retention's rows
        if job:
            assert job_id is not None
            rows = await reports.job_page(
                service_id, job_id, since=since, after_row=after_row, limit=page
            )
        else:
            rows = await reports.channel_page(
                service_id, kind, since=since, job_id=job_id, before=before, limit=page
            )
        lines = [
            rp.row(
                recipient=x["recipient"], template_name=x["template_name"],
                notification_type=x["notification_type"], job_name=x["original_file_name"],
                job_row_number=x["job_row_number"], status=x["status"],
                feedback_subtype=x["feedback_subtype"], created_at=x["created_at"],
                language=language, time_zone=time_zone, job=job,
            )
            for x in rows
        ]  # fmt: skip
        if lines or seq == 0:
            text = rp.csv_text(header + lines).encode()
            if not await reports.write_chunk(report_id, attempt, seq, text, lease_s=lease_s):
                return None
            seq += 1
            header = []
        count += len(rows)
        if len(rows) < page:
            return count
        last = rows[-1]
        before = (last["created_at"], last["id"])
        after_row = last["job_row_number"] if last["job_row_number"] is not None else after_row
    return count

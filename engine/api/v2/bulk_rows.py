"""A bulk job once its rows are validated: write the job and its rows, fast.

Rules:
- Rows are rendered, built (``engine.domain.notification.accepted_row``) and written in
  one pass: every ``CHUNK`` rows go to the store's COPY path as a background insert while
  the next chunk renders, so PostgreSQL's work overlaps ours. Chunks commit separately:
  the job is inserted ``pending`` first and made sendable by ``mark_sendable`` once every
  chunk is in, so a crash in between leaves rows nothing sends (recovery deletes them
  later). The caller deletes the job's rows if anything fails (``discard``).
- Ids come from one ``os.urandom`` call per job (``new_ids``; uuid4 per row costs a
  system call and a slow constructor each: a measurable share of a 50,000-row request).
- Sending is the caller's: small jobs are dispatched from the rows kept in memory, large
  and scheduled ones by ``engine.actors.job_feeder`` from the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from engine.domain.notification import NotificationRow, RowSpec, accepted_row, new_ids

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps

CHUNK = 5_000
# Rows rendered between scheduler checkpoints (~5 ms of work), so a big job never holds
# up the single sends being served at the same time.
_YIELD_EVERY = 200


async def write_rows(
    deps: ApiDeps,
    spec: RowSpec,
    recipients: Sequence[str],
    personalisations: Sequence[dict[str, str]],
    render: Callable[[int], Any],
    *,
    keep: bool,
) -> list[tuple[NotificationRow, Any]]:
    """Render (``render(index)``), build and COPY every row; returns (row, rendered) pairs
    when ``keep`` (small jobs are dispatched straight from memory)."""
    ids = new_ids(len(recipients), spec.created_at)
    kept: list[tuple[NotificationRow, Any]] = []
    async with trio.open_nursery() as nursery:
        chunk: list[NotificationRow] = []
        for index, recipient in enumerate(recipients):
            out = render(index)
            row = accepted_row(
                spec, ids[index], recipient, personalisations[index], out, row_number=index + 1
            )
            chunk.append(row)
            if keep:
                kept.append((row, out))
            if len(chunk) == CHUNK:
                nursery.start_soon(deps.store.insert_notifications, chunk)
                chunk = []
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                # Lets the inserts already queued reach PostgreSQL while we keep building.
                await trio.lowlevel.checkpoint()
        if chunk:
            nursery.start_soon(deps.store.insert_notifications, chunk)
    return kept


async def insert_job(deps: ApiDeps, spec: RowSpec, name: str, count: int, status: str,
                     sender_id: uuid.UUID | None) -> None:  # fmt: skip
    assert spec.job_id is not None
    await deps.store.jobs.insert(
        spec.job_id, spec.service_id, template_id=spec.template_id,
        template_version=spec.template_version, api_key_id=spec.api_key_id, name=name,
        count=count, status=status, scheduled_for=spec.scheduled_for, sender_id=sender_id,
        created_at=spec.created_at,
    )  # fmt: skip


async def mark_sendable(deps: ApiDeps, job_id: uuid.UUID, *, scheduled: bool) -> None:
    """Every row of the job is committed: the one statement that lets it be sent (GC:
    ``finished`` once all notifications are created; ``scheduled`` until due)."""
    await deps.store.jobs.mark_sendable(job_id, scheduled=scheduled)


async def discard(deps: ApiDeps, job_id: uuid.UUID) -> None:
    with trio.CancelScope(shield=True):
        await deps.store.jobs.discard(job_id)

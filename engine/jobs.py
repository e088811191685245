"""Bulk jobs once their rows are validated: write them fast, then feed them to a lane.

Rules:
- Rows are rendered, built and written in one pass: every ``CHUNK`` rows go to the store's
  COPY path as a background insert while the next chunk renders, so PostgreSQL's work
  overlaps ours. The caller deletes the job's rows if anything fails (``discard``).
- Ids come from one ``os.urandom`` call per job (uuid4 per row costs a system call and
  a slow constructor each: a measurable share of a 50,000-row request).
- Large jobs are owned by this process and fed to the service's lane by ``feed`` at the
  lane's pace, a page of rows at a time, so the rendered messages of 50,000 rows never sit
  in memory at once and the recovery sweep (oldest rows first, every service) is not
  flooded by one job. If ``feed`` fails it releases the rest to recovery; after a crash
  or a shutdown recovery claims them as it claims any row.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import trio

from engine.domain import statuses as st
from engine.outbound import outbound_from_row, sender_address
from engine.providers.base import EmailMessage, Outbound, SmsMessage
from engine.store.notifications import NotificationRow

if TYPE_CHECKING:
    from engine.actors.service import ServiceActor
    from engine.actors.service_actors import ServiceActors
    from engine.services import Registry, ServiceBundle, Template, TemplateCache
    from engine.store.jobs import Jobs

log = logging.getLogger("engine.jobs")

CHUNK = 5_000
FEED_PAGE = 1_000
CLAIM_AHEAD = 1.0  # seconds before a scheduled job is due
# Rows rendered between scheduler checkpoints (~5 ms of work), so a big job never holds
# up the single sends being served at the same time.
_YIELD_EVERY = 200


class JobStore(Protocol):
    @property
    def jobs(self) -> Jobs: ...
    async def insert_notifications(self, rows: Sequence[NotificationRow]) -> None: ...


class JobSettings(Protocol):
    @property
    def notify_email_domain(self) -> str: ...


class JobDeps(Protocol):
    """What jobs need of the running engine (``engine.api.deps.ApiDeps`` is one)."""

    @property
    def store(self) -> JobStore: ...
    @property
    def settings(self) -> JobSettings: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def template_cache(self) -> TemplateCache: ...
    @property
    def service_actors(self) -> ServiceActors: ...
    @property
    def worker_id(self) -> uuid.UUID: ...
    @property
    def wake_recovery(self) -> Callable[[], None]: ...


class RowSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What every row of one job shares."""

    job_id: uuid.UUID
    service_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    api_key_id: uuid.UUID
    key_type: str
    channel: str
    lane: str
    sender: str | None
    reference: str | None
    scheduled_for: dt.datetime | None
    created_at: dt.datetime
    owner: uuid.UUID | None


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])
    return [uuid.UUID(bytes=bytes(raw[i : i + 16])) for i in range(0, 16 * count, 16)]


async def write_rows(
    deps: JobDeps,
    spec: RowSpec,
    recipients: Sequence[str],
    personalisations: Sequence[dict[str, str]],
    render: Callable[[int], Any],
    *,
    keep: bool,
) -> list[tuple[NotificationRow, Any]]:
    """Render (``render(index)``), build and COPY every row; returns (row, rendered) pairs
    when ``keep`` (small jobs are dispatched straight from memory)."""
    email = spec.channel == "email"
    ids = new_ids(len(recipients))
    kept: list[tuple[NotificationRow, Any]] = []
    encode = msgspec.json.encode
    async with trio.open_nursery() as nursery:
        chunk: list[NotificationRow] = []
        for index, recipient in enumerate(recipients):
            out = render(index)
            values = personalisations[index]
            row = NotificationRow(
                id=ids[index],
                service_id=spec.service_id,
                template_id=spec.template_id,
                template_version=spec.template_version,
                api_key_id=spec.api_key_id,
                key_type=spec.key_type,
                notification_type=spec.channel,
                recipient=recipient,
                status=st.CREATED,
                client_reference=spec.reference,
                personalisation=encode(values).decode() if values else None,
                subject=out.subject if email else None,
                body=out.text if email else out.body,
                reply_to_text=spec.sender,
                process_type=spec.lane,
                billable_units=1 if email else out.fragment_count,
                job_id=spec.job_id,
                job_row_number=index + 1,
                scheduled_for=spec.scheduled_for,
                unsubscribe_url=None,
                created_at=spec.created_at,
                owner=spec.owner,
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


async def insert_job(deps: JobDeps, spec: RowSpec, name: str, count: int, status: str,
                     sender_id: uuid.UUID | None) -> None:  # fmt: skip
    await deps.store.jobs.insert(
        spec.job_id, spec.service_id, template_id=spec.template_id,
        template_version=spec.template_version, api_key_id=spec.api_key_id, name=name,
        count=count, status=status, scheduled_for=spec.scheduled_for, sender_id=sender_id,
        created_at=spec.created_at,
    )  # fmt: skip


async def mark_finished(deps: JobDeps, job_id: uuid.UUID) -> None:
    """Every row of the job exists (GC: ``finished`` once all notifications are created)."""
    await deps.store.jobs.mark_finished(job_id)


async def discard(deps: JobDeps, job_id: uuid.UUID) -> None:
    with trio.CancelScope(shield=True):
        await deps.store.jobs.discard(job_id)


def message(deps: JobDeps, bundle: ServiceBundle, row: NotificationRow, out: Any) -> Outbound:
    """The provider message for a row just rendered (small jobs skip the database)."""
    if row.notification_type == "email":
        sender = sender_address(bundle, deps.settings.notify_email_domain)
        return EmailMessage(
            notification_id=row.id,
            service_id=row.service_id,
            to=row.recipient,
            from_address=f"{bundle.service.name} <{sender}>",
            reply_to=row.reply_to_text,
            subject=out.subject,
            html=out.html,
            text=out.text,
            key_type=row.key_type,
            lane=row.process_type,
            created_at=row.created_at,
        )
    return SmsMessage(
        notification_id=row.id,
        service_id=row.service_id,
        to=row.recipient,
        body=out.body,
        sender=row.reply_to_text,
        key_type=row.key_type,
        lane=row.process_type,
        created_at=row.created_at,
    )


async def feed(
    deps: JobDeps,
    actor: ServiceActor,
    bundle: ServiceBundle,
    template: Template,
    job_id: uuid.UUID,
) -> None:
    """Hand a job's rows to the service's lane, a page at a time, waiting for room."""
    compiled = deps.template_cache.compiled(template, bundle)
    domain = deps.settings.notify_email_domain
    last = 0
    try:
        while True:
            page = await deps.store.jobs.page(
                job_id, after_row=last, owner=deps.worker_id, limit=FEED_PAGE
            )
            for index, row in enumerate(page):
                await _enqueue_when_room(actor, outbound_from_row(row, bundle, compiled, domain))
                last = row["job_row_number"]
                if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await trio.lowlevel.checkpoint()
            if len(page) < FEED_PAGE:
                return
    except Exception:
        log.exception("job feeder failed; rows go to recovery", extra={"job_id": str(job_id)})
        with trio.CancelScope(shield=True):
            await deps.store.jobs.release_rows(job_id, deps.worker_id, after_row=last)
        deps.wake_recovery()


async def feed_when_due(
    deps: JobDeps, service_id: uuid.UUID, template: Template, job_id: uuid.UUID,
    due: dt.datetime,
) -> None:  # fmt: skip
    """Send a scheduled job at its time. Its rows are claimed ``CLAIM_AHEAD`` seconds early
    so the recovery sweep, which would take them oldest first in batches ahead of every
    other service's due rows, leaves them to this feeder. If this process stops before
    then, the rows are still unowned and recovery sends them when due."""
    await trio.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds() - CLAIM_AHEAD))
    await deps.store.jobs.claim_rows(job_id, deps.worker_id)
    await trio.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()))
    # Limits, names and senders may have changed since the job was accepted.
    bundle = await deps.registry.get(service_id)
    if bundle is None:
        await deps.store.jobs.release_unsent(job_id)
        return
    await mark_finished(deps, job_id)
    await feed(deps, await deps.service_actors.get(bundle), bundle, template, job_id)


async def _enqueue_when_room(actor: ServiceActor, message: Outbound) -> None:
    # The lane is bounded: wait for room rather than overflow the job to recovery.
    while True:
        if actor.enqueue_nowait(message):
            return
        await trio.sleep(0.05)

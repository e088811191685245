"""The job feeder: a task that hands a large or scheduled bulk job's rows to its service's
lane, at the lane's pace.

Rules:
- Large jobs are owned by this process (its current registration, ``deps.owner()``:
  fencing, ``engine.domain.ownership``) and fed by ``feed`` a page of rows at a time, so
  the rendered messages of 50,000 rows never sit in memory at once and the recovery sweep
  (oldest rows first, every service) is not flooded by one job. The lane is bounded: the
  feeder waits for room rather than overflow the job to recovery.
- If ``feed`` fails it releases the rest to recovery; after a crash or a shutdown
  recovery claims them as it claims any row.
- A scheduled job is fed when due (``feed_when_due``), its rows claimed ``CLAIM_AHEAD``
  seconds early; a job cancelled before then is not fed.
- Messages are built from the stored rows by ``engine.domain.notification``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Protocol

import trio

from engine.domain import notification as nt
from engine.domain.branding import frame as branding_frame

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.actors.service import ServiceActor
    from engine.actors.service_actors import ServiceActors
    from engine.services import Registry, ServiceBundle, Template, TemplateCache
    from engine.store.jobs import Jobs

log = logging.getLogger("engine.jobs")

FEED_PAGE = 1_000
CLAIM_AHEAD = 1.0  # seconds before a scheduled job is due
# Rows built between scheduler checkpoints (~5 ms of work), so a big job never holds
# up the single sends being served at the same time.
_YIELD_EVERY = 200


class FeederStore(Protocol):
    @property
    def jobs(self) -> Jobs: ...


class FeederSettings(Protocol):
    @property
    def notify_email_domain(self) -> str: ...
    @property
    def asset_base(self) -> str: ...


class FeederDeps(Protocol):
    """What the feeder uses of the running engine (``engine.api.deps.ApiDeps`` has it)."""

    @property
    def store(self) -> FeederStore: ...
    @property
    def settings(self) -> FeederSettings: ...
    @property
    def owner(self) -> Callable[[], uuid.UUID]: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def template_cache(self) -> TemplateCache: ...
    @property
    def service_actors(self) -> ServiceActors: ...
    @property
    def wake_recovery(self) -> Callable[[], None]: ...


async def feed(
    deps: FeederDeps,
    actor: ServiceActor,
    bundle: ServiceBundle,
    template: Template,
    job_id: uuid.UUID,
) -> None:
    """Hand a job's rows to the service's lane, a page at a time, waiting for room."""
    cache = deps.template_cache
    frame = branding_frame(bundle.service.branding, deps.settings.asset_base)
    default_language = bundle.service.default_language
    from_address = nt.from_address(bundle.service, deps.settings.notify_email_domain)
    last = 0
    try:
        while True:
            page = await deps.store.jobs.page(
                job_id, after_row=last, owner=deps.owner(), limit=FEED_PAGE
            )
            for index, row in enumerate(page):
                compiled = cache.compiled(template, bundle, nt.stored_language(row))
                message = nt.stored_outbound(
                    row, compiled, from_address, frame=frame, lang=default_language
                )
                await _enqueue_when_room(actor, message)
                last = row["job_row_number"]
                if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await trio.lowlevel.checkpoint()
            if len(page) < FEED_PAGE:
                return
    except Exception:
        log.exception("job feeder failed; rows go to recovery", extra={"job_id": str(job_id)})
        with trio.CancelScope(shield=True):
            await deps.store.jobs.release_rows(job_id, deps.owner(), after_row=last)
        deps.wake_recovery()


async def feed_when_due(
    deps: FeederDeps, service_id: uuid.UUID, template: Template, job_id: uuid.UUID,
    due: dt.datetime,
) -> None:  # fmt: skip
    """Send a scheduled job at its time. Its rows are claimed ``CLAIM_AHEAD`` seconds early
    so the recovery sweep, which would take them oldest first in batches ahead of every
    other service's due rows, leaves them to this feeder. If this process stops before
    then, the rows are still unowned and recovery sends them when due."""
    await trio.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds() - CLAIM_AHEAD))
    await deps.store.jobs.claim_rows(job_id, deps.owner())
    await trio.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()))
    # Limits, names and senders may have changed since the job was accepted.
    bundle = await deps.registry.get(service_id)
    if bundle is None:
        await deps.store.jobs.release_unsent(job_id)
        return
    if not await deps.store.jobs.mark_finished(job_id):
        return  # cancelled before it was due (engine.store.jobs.cancel): nothing to send
    await feed(deps, await deps.service_actors.get(bundle), bundle, template, job_id)


async def _enqueue_when_room(actor: ServiceActor, message: nt.Outbound) -> None:
    # The lane is bounded: wait for room rather than overflow the job to recovery.
    while True:
        if actor.enqueue_nowait(message):
            return
        await trio.sleep(0.05)

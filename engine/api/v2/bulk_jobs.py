"""GET and DELETE /v2/notifications/bulk/{job_id}: a bulk job's state with counts per status,
and cancelling a scheduled job (GC Notify shipped both in 2026: cds-snc/notification-api
#3013, #3040).

Rules (GC's):
- The job as ``POST /v2/notifications/bulk`` answered it (``job_wire.Job``), plus
  ``statistics``: ``[{"status": s, "count": n}]`` for the job's notifications, by status.
- A job of another service, or none -> 404 ``JobNotFoundError`` "Job not found in
  database"; a bad id -> 400 ``ValidationError`` "job_id is not a valid UUID".
- DELETE cancels a ``scheduled`` job whose time has not come: the job and its rows become
  ``cancelled`` in one statement (``engine.store.jobs.cancel``: it is sent whole or
  cancelled whole), 200 with the job. Already cancelled -> 409
  ``JobAlreadyCancelledError``; being sent, sent, or due -> 409
  ``JobCancellationNotAllowedError``.
- What the cancelled rows took of the daily and annual limits is given back (GC decrements
  the day's email count; its SMS and annual counts are read from rows a cancelled job never
  created), to the windows of the day the job was accepted.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.auth import AuthContext
from engine.api.errors import ApiError, ValidationError
from engine.api.http import Request, Response
from engine.api.v2.job_wire import Job, JobApiKey, NamedRef, ServiceName, iso
from engine.domain import admission
from engine.domain.leases import GiveBack
from engine.domain.timezones import local_date

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps
    from engine.services import ServiceBundle

JOB_NOT_FOUND = "Job not found in database"
ALREADY_CANCELLED = "Job has already been cancelled"
NOT_CANCELLABLE = (
    "Job cannot be cancelled because it is already being sent or has already been sent"
)


class JobStatistic(msgspec.Struct, frozen=True):
    status: str
    count: int


class BulkJob(Job, frozen=True, kw_only=True):
    statistics: list[JobStatistic]


class BulkJobResponse(msgspec.Struct, frozen=True):
    data: BulkJob


_encode = msgspec.json.Encoder().encode


def _job_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["job_id"])
    except ValueError:
        raise ValidationError(["job_id is not a valid UUID"]) from None


def _not_found() -> ApiError:
    return ApiError(JOB_NOT_FOUND, status_code=404, wire_name="JobNotFoundError")


async def get_bulk_job(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    job_id = _job_id(request)
    row = await deps.store.jobs.get(ctx.bundle.service.id, job_id)
    if row is None:
        raise _not_found()
    return await _answer(deps, ctx.bundle, row)


async def cancel_bulk_job(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    job_id = _job_id(request)
    bundle = ctx.bundle
    row = await deps.store.jobs.cancel(bundle.service.id, job_id)
    if row is None:
        current = await deps.store.jobs.get(bundle.service.id, job_id)
        if current is None:
            raise _not_found()
        if current["job_status"] == "cancelled":
            raise ApiError(ALREADY_CANCELLED, status_code=409, wire_name="JobAlreadyCancelledError")
        raise ApiError(NOT_CANCELLABLE, status_code=409, wire_name="JobCancellationNotAllowedError")
    await _give_back(deps, bundle, row)
    return await _answer(deps, bundle, row)


async def _give_back(deps: ApiDeps, bundle: ServiceBundle, row: Any) -> None:
    messages, units = int(row["messages"]), int(row["units"])
    if not messages or row["key_type"] is None:
        return
    day = local_date(row["created_at"], bundle.service.time_zone)
    needs = admission.quota_needs(
        bundle.service, row["key_type"], row["notification_type"], units, messages, day
    )
    await deps.store.budgets.give_back(
        bundle.service.id, [GiveBack(n.key.kind, n.key.window, n.limit, n.amount) for n in needs]
    )
    # This process forgets at once that the table was dry; others within EXHAUSTED_RETRY_S.
    (await deps.service_actors.get(bundle)).given_back([n.key for n in needs])


async def _answer(deps: ApiDeps, bundle: ServiceBundle, row: Any) -> Response:
    statistics = await deps.store.jobs.statistics(row["id"])
    return Response(200, _encode(BulkJobResponse(_job(bundle, row, statistics))))


def _job(bundle: ServiceBundle, row: Any, statistics: list[tuple[str, int]]) -> BulkJob:
    key = next((k for k in bundle.keys if k.id == row["api_key_id"]), None)
    key_id = str(row["api_key_id"]) if row["api_key_id"] else ""
    name = key.name if key is not None else ""
    return BulkJob(
        api_key=JobApiKey(key_id, key.key_type if key is not None else "", name),
        archived=False,
        created_at=iso(row["created_at"]) or "",
        created_by=NamedRef(key_id, name),
        id=str(row["id"]),
        job_status=row["job_status"],
        notification_count=row["notification_count"],
        original_file_name=row["original_file_name"] or "",
        processing_finished=iso(row["processing_finished"]),
        processing_started=iso(row["processing_started"]),
        scheduled_for=iso(row["scheduled_for"]),
        sender_id=str(row["sender_id"]) if row["sender_id"] else None,
        service=str(bundle.service.id),
        service_name=ServiceName(bundle.service.name),
        template=str(row["template_id"]),
        template_version=row["template_version"],
        updated_at=iso(row["updated_at"]),
        statistics=[JobStatistic(s, n) for s, n in statistics],
    )

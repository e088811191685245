"""Reports through the API: GC Notify's ``/v2/reports`` (issue 24).

    POST /v2/reports                      request one (202, ``Location``); made in the
                                          background: requested -> generating -> ready
    GET  /v2/reports[?older_than=<id>]    the service's reports, newest first, 250 a page
    GET  /v2/reports/{id}                 one report
    GET  /v2/reports/{id}/content         its CSV once ready (``text/csv``, an attachment)

Rules (GC's code, notification-api ``app/v2/reports``; the tests say where its
documentation differs):
- Every call needs a key holding ``manage_reports``, else 403 ``ForbiddenError`` "This API
  key does not have permission to manage reports.", checked first.
- POST is limited to 10 per hour and service across every process
  (``engine.store.reports``), counted before the body is read, as GC does: the 11th
  answers 429 ``RateLimitExceeded`` "Maximum 10 report requests per hour" with
  ``Retry-After``, ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset``. (GC's body for it lacks ``status_code``; ours is the envelope.)
- The body is GC's schema: ``report_type`` (sms, email, job) and ``language`` (en, fr)
  required, ``job_id`` required for a job report; nothing else. A ``job_id`` that is not
  one of the service's jobs is 404 (GC's code fails on its foreign key, a 500).
- Reports and their content are the service's own: another service's id is 404.
  Content before ``ready`` is 409 "Report is not ready for download (status: <s>)".
  A content path whose id is not a UUID is the router's 404, as GC's ``<uuid:>`` route.
- The CSV is streamed a few chunks at a time, never whole in memory.
- A report left ``requested`` or ``generating`` by a process that died (its lease ran
  out) is started again by the next GET of it.
- Times on the wire are Notify's (``engine.domain.timestamps``); ``url`` is not shown
  (GC excludes it); ``job_id`` and ``language`` are not shown either (GC's serializer).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from engine.actors import report_maker
from engine.api.auth import AuthContext
from engine.api.errors import ApiError, BadRequestError, NotFoundError, ValidationError, error_body
from engine.api.http import Request, Response, StreamedResponse
from engine.api.limits import check_body, query_args
from engine.api.v2.manage_templates import require
from engine.api.v2.schema import schema_errors
from engine.domain import reports as rp
from engine.domain.timestamps import format_ts, utcnow

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps
    from engine.store.rows import Row

MANAGE_REPORTS = "manage_reports"
NO_PERMISSION = "This API key does not have permission to manage reports."
RATE_LIMITED = "Maximum 10 report requests per hour"
PAGE_SIZE = 250
CHUNKS_AT_ONCE = 4
WINDOW_S = 3600.0

SPEC = {
    "report_type": (("string",), True),
    "language": (("string",), True),
    "job_id": (("string", "null"), False),
}
_encode = msgspec.json.Encoder().encode


class ReportBody(msgspec.Struct, frozen=True):
    id: str
    report_type: str
    service_id: str
    status: str
    requested_at: str | None
    completed_at: str | None
    expires_at: str | None
    api_key_id: str | None


class ReportLinks(msgspec.Struct, frozen=True, omit_defaults=True):
    current: str
    next: str | None = None


class ReportList(msgspec.Struct, frozen=True):
    reports: list[ReportBody]
    links: ReportLinks


class ReportRequested(msgspec.Struct, frozen=True):
    report_id: str
    status: str


def serialize(row: Row) -> ReportBody:
    return ReportBody(
        id=str(row["id"]),
        report_type=row["report_type"],
        service_id=str(row["service_id"]),
        status=row["status"],
        requested_at=format_ts(row["requested_at"]),
        completed_at=format_ts(row["completed_at"]),
        expires_at=format_ts(row["expires_at"]),
        api_key_id=str(row["api_key_id"]) if row["api_key_id"] else None,
    )


def _rate_limited(oldest: dt.datetime, now: dt.datetime) -> Response:
    wait = rp.retry_after(oldest, now)
    reset = int(now.timestamp()) + wait
    return Response(
        429,
        error_body(429, "RateLimitExceeded", RATE_LIMITED),
        headers=[
            (b"retry-after", str(wait).encode()),
            (b"x-ratelimit-limit", str(rp.REQUESTS_PER_HOUR).encode()),
            (b"x-ratelimit-remaining", b"0"),
            (b"x-ratelimit-reset", str(reset).encode()),
        ],
    )


def _request_body(request: Request) -> tuple[str, str, uuid.UUID | None]:
    check_body(request.body)
    try:
        body: Any = msgspec.json.decode(request.body or b"null")
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"Error decoding arguments: {exc}") from None
    errors = schema_errors(body, SPEC)
    if not isinstance(body, dict):
        raise ValidationError(errors)
    kind, language, job = body.get("report_type"), body.get("language"), body.get("job_id")
    if isinstance(kind, str) and kind not in rp.REPORT_TYPES:
        errors.append(f"report_type {kind} is not one of [sms, email, job]")
    if isinstance(language, str) and language not in rp.LANGUAGES:
        errors.append(f"language {language} is not one of [en, fr]")
    job_id = None
    if isinstance(job, str):
        try:
            job_id = uuid.UUID(job)
        except ValueError:
            errors.append("job_id is not a valid UUID")
    if kind == "job" and "job_id" not in body:
        errors.append("job_id is a required property")
    elif kind == "job" and job is None:
        errors.append("job_id None is not of type string")
    if errors:
        raise ValidationError(errors)
    assert isinstance(kind, str)  # required strings: the schema said so
    assert isinstance(language, str)
    return kind, language, job_id


async def post_report(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_REPORTS, NO_PERMISSION)
    service_id = ctx.bundle.service.id
    reports = deps.store.reports
    granted, oldest, now = await reports.admit_request(
        service_id, limit=rp.REQUESTS_PER_HOUR, window_s=WINDOW_S
    )
    if not granted:
        return _rate_limited(oldest, now)
    kind, language, job_id = _request_body(request)
    if job_id is not None and not await reports.job_exists(service_id, job_id):
        raise NotFoundError()
    row = await reports.create(
        uuid.uuid4(), service_id, report_type=kind, language=language, job_id=job_id,
        api_key_id=ctx.key.id,
    )  # fmt: skip
    _start(deps, row["id"])
    body = _encode(ReportRequested(str(row["id"]), row["status"]))
    return Response(202, body, headers=[(b"location", f"/v2/reports/{row['id']}".encode())])


def _start(deps: ApiDeps, report_id: uuid.UUID) -> None:
    store = deps.store
    deps.start_soon(report_maker.make, store.reports, store.retention, deps.registry, report_id)


def _report_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationError(["report_id is not a valid UUID"]) from None


async def list_reports(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_REPORTS, NO_PERMISSION)
    query = query_args(request)
    errors: list[str] = []
    unexpected = [k for k in query if k != "older_than"]
    if unexpected:
        verb = "was" if len(unexpected) == 1 else "were"
        errors.append(
            f"Additional properties are not allowed ({', '.join(unexpected)} {verb} unexpected)"
        )
    older_than = None
    if "older_than" in query:
        try:
            older_than = uuid.UUID(query["older_than"][0])
        except ValueError:
            errors.append("older_than is not a valid UUID")
    if errors:
        raise ValidationError(errors)
    rows = await deps.store.reports.for_service(
        ctx.bundle.service.id, older_than=older_than, limit=PAGE_SIZE
    )
    base = request.base_url(deps.settings.public_url) + "v2/reports"
    current = f"{base}?older_than={older_than}" if older_than else base
    following = f"{base}?older_than={rows[-1]['id']}" if rows else None
    listed = ReportList([serialize(r) for r in rows], ReportLinks(current, following))
    return Response(200, _encode(listed))


async def _report(deps: ApiDeps, ctx: AuthContext, report_id: uuid.UUID) -> Row:
    row = await deps.store.reports.get(report_id, ctx.bundle.service.id)
    if row is None:
        raise NotFoundError()
    return row


def _stalled(row: Row, now: dt.datetime) -> bool:
    """Left by a process that died: its lease ran out, or it was never claimed."""
    lease = dt.timedelta(seconds=report_maker.LEASE_S)
    if row["status"] == "requested":
        return bool(row["requested_at"] < now - lease)
    return bool(row["status"] == "generating" and row["lease_until"] < now)


async def get_report(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_REPORTS, NO_PERMISSION)
    row = await _report(deps, ctx, _report_id(request.path_params["report_id"]))
    if _stalled(row, utcnow()):
        _start(deps, row["id"])
    return Response(200, _encode(serialize(row)))


async def get_content(deps: ApiDeps, request: Request, ctx: AuthContext) -> Response:
    require(ctx, MANAGE_REPORTS, NO_PERMISSION)
    try:
        report_id = uuid.UUID(request.path_params["report_id"])
    except ValueError:
        raise ApiError(
            "The requested URL was not found on the server.", status_code=404,
            wire_name="NotFound",
        ) from None  # fmt: skip
    row = await _report(deps, ctx, report_id)
    if row["status"] != "ready":
        raise BadRequestError(
            f"Report is not ready for download (status: {row['status']})", status_code=409
        )
    reports, attempt = deps.store.reports, int(row["attempt"])
    first = await reports.chunks(report_id, attempt, after=-1, limit=CHUNKS_AT_ONCE)

    async def chunks() -> AsyncIterator[bytes]:
        page = first
        for _ in range(10_000_000):  # bounded: one turn per CHUNKS_AT_ONCE chunks
            for _seq, content in page:
                yield content
            if len(page) < CHUNKS_AT_ONCE:
                return
            page = await reports.chunks(report_id, attempt, after=page[-1][0],
                                        limit=CHUNKS_AT_ONCE)  # fmt: skip

    disposition = f'attachment; filename="{report_id}.csv"'.encode()
    return StreamedResponse(chunks, b"text/csv", [(b"content-disposition", disposition)])

"""The job as the v2 API shows it (GC's ``job_schema``): ``POST /v2/notifications/bulk``
answers with it (``engine.api.v2.bulk``) and the job reads extend it
(``engine.api.v2.bulk_jobs``). msgspec Structs, encoded as they are; the OpenAPI schema
``Job`` (``engine.api.v2.openapi_schemas``) describes the same fields.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class JobApiKey(msgspec.Struct, frozen=True):
    id: str
    key_type: str
    name: str


class NamedRef(msgspec.Struct, frozen=True):
    id: str
    name: str


class ServiceName(msgspec.Struct, frozen=True):
    name: str


class Job(msgspec.Struct, frozen=True, kw_only=True):
    api_key: JobApiKey
    archived: bool
    created_at: str
    created_by: NamedRef
    id: str
    job_status: str
    notification_count: int
    original_file_name: str
    processing_finished: str | None
    processing_started: str | None
    scheduled_for: str | None
    sender_id: str | None
    service: str
    service_name: ServiceName
    template: str
    template_version: int
    updated_at: str | None


class JobResponse(msgspec.Struct, frozen=True):
    data: Job


def iso(value: dt.datetime | None) -> str | None:
    # GC dumps jobs with marshmallow: ISO 8601 with the UTC offset.
    return None if value is None else value.astimezone(dt.UTC).isoformat()

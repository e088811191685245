"""The OpenAPI 3.1 document of the public v2 API, served at GET /v2/openapi (no auth).

``/v2/openapi-en`` is an alias (GC serves its English document there); ``/v2/openapi-fr``
is the same document in French (``openapi_fr``). The document is a
plain dict built once at import (schemas in ``openapi_schemas``); the ``servers`` entry is
the request's own base URL, so "try it" tools hit the engine they read the document from.

Rules:
- Every public endpoint, its request body or query, every response body and the error
  envelope are described. Response schemas list every field as required and forbid
  others: the tests validate real responses against them, so the document cannot drift
  from what the engine sends.
- Schemas are JSON Schema 2020-12, which OpenAPI 3.1 uses as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from engine.api.http import Request, Response
from engine.api.limits import INT32_MAX
from engine.api.v2 import openapi_fr
from engine.api.v2.openapi_schemas import SCHEMAS, STR, UUID, Schema, ref
from engine.domain import statuses as st

if TYPE_CHECKING:
    from engine.api.deps import ApiDeps


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": ref(name)}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "Validation or request error",
        401: "No or malformed Authorization header",
        403: "Invalid token, key or service",
        404: "Not found",
        405: "Method not allowed",
        409: "Not ready (a report), changed meanwhile (a template), a job that cannot be"
        " cancelled, or a request with this Idempotency-Key still in flight: retry later",
        422: "This Idempotency-Key was used for a different request",
        413: "Request body too large",
        415: "Content-Type is not JSON",
        429: "Rate limit, daily or annual limit exceeded",
        500: "Internal server error",
        503: "The database cannot be reached: send the request again after Retry-After",
    }
    responses = {str(c): {"description": words[c], "content": _json("Error")} for c in codes}
    if "503" in responses:
        responses["503"]["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    return responses


# What any authenticated operation may answer, whatever it does: the database being
# unreachable is a 503 on every one of them (``engine.api.errors.database_unavailable``).
AUTH_ERRORS = (401, 403, 429, 500, 503)


def op(
    summary: str,
    ok: tuple[int, str],
    *,
    body: str | None = None,
    params: list[Schema] | None = None,
    errors: tuple[int, ...] = (400,),
    tag: str = "notifications",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {
            str(ok[0]): {"description": "Success", "content": _json(ok[1])},
            **_errors(*errors, *AUTH_ERRORS),
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
        operation["responses"].update(_errors(413, 415))
    if params:
        operation["parameters"] = params
    return operation


def path_param(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query_param(name: str, schema: Schema, description: str = "") -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


NOTIFICATION_ID = path_param("notification_id", UUID)
TEMPLATE_ID = path_param("template_id", UUID)
JOB_ID = path_param("job_id", UUID)
OLDER_THAN = query_param("older_than", UUID, "Return items created before this one")


def _letter_operation() -> dict[str, Any]:
    operation = op(
        "Letters are not offered: always refused",
        (400, "Error"),
        body="PostLetterRequest",
        errors=(403,),
    )
    operation["responses"]["400"]["description"] = "Always"
    operation["description"] = (
        "Answered as GC Notify answers a service without the letter permission: the body's "
        "violations (400 ValidationError), else 400 BadRequestError 'Service is not allowed "
        "to send letters'."
    )
    return operation


PATHS: dict[str, Any] = {
    "/v2/notifications/email": {
        "post": op("Send an email", (201, "PostEmailResponse"), body="PostEmailRequest")
    },
    "/v2/notifications/sms": {
        "post": op("Send a text message", (201, "PostSmsResponse"), body="PostSmsRequest")
    },
    "/v2/notifications/letter": {"post": _letter_operation()},
    "/v2/notifications/bulk": {
        "post": op("Send in bulk (rows or CSV)", (201, "PostBulkResponse"), body="PostBulkRequest")
    },
    "/v2/notifications/bulk/{job_id}": {
        "get": op(
            "Get a bulk job, with how many of its notifications are in each status",
            (200, "BulkJobResponse"),
            params=[JOB_ID],
            errors=(400, 404),
        ),
        "delete": op(
            "Cancel a scheduled bulk job that is not yet due",
            (200, "BulkJobResponse"),
            params=[JOB_ID],
            errors=(400, 404, 409),
        ),
    },
    "/v2/notifications/{notification_id}": {
        "get": op(
            "Get a notification's status",
            (200, "Notification"),
            params=[NOTIFICATION_ID],
            errors=(400, 404),
        ),
        "delete": op(
            "Cancel a scheduled notification that has not been sent",
            (200, "Notification"),
            params=[NOTIFICATION_ID],
            errors=(400, 404),
        ),
    },
    "/v2/notifications": {
        "get": op(
            "List notifications sent with this key type, newest first, 250 a page",
            (200, "NotificationList"),
            params=[
                query_param("template_type", {"enum": ["email", "sms", "letter"]}),
                query_param(
                    "status",
                    {"enum": list(st.ALL_STATUSES)},
                    "Repeatable; 'failed' means every failure status",
                ),
                query_param("reference", STR),
                OLDER_THAN,
                query_param("include_jobs", {"enum": ["true", "True", "false", "False"]}),
                query_param("template_id", UUID, "Only notifications of this template"),
                query_param(
                    "job_id", UUID, "Only notifications of this bulk job (include_jobs implied)"
                ),
                query_param(
                    "created_after",
                    {"type": "string", "format": "date-time"},
                    "Only notifications created after this time (ISO 8601; without an offset, "
                    "in the service's time zone)",
                ),
                query_param(
                    "created_before",
                    {"type": "string", "format": "date-time"},
                    "Only notifications created before this time (ISO 8601; without an "
                    "offset, in the service's time zone)",
                ),
            ],
        )
    },
    "/v2/template/{template_id}": {
        "get": op(
            "Get a template",
            (200, "Template"),
            params=[TEMPLATE_ID],
            errors=(400, 404),
            tag="templates",
        )
    },
    "/v2/template/{template_id}/version/{version}": {
        "get": op(
            "Get a version of a template",
            (200, "Template"),
            params=[
                TEMPLATE_ID,
                path_param("version", {"type": "integer", "minimum": 1, "maximum": INT32_MAX}),
            ],
            errors=(400, 404),
            tag="templates",
        )
    },
    "/v2/templates": {
        "get": op(
            "List the service's templates",
            (200, "TemplateList"),
            params=[query_param("type", {"enum": ["email", "sms", "letter"]})],
            tag="templates",
        )
    },
    "/v2/template/{template_id}/preview": {
        "post": op(
            "Render a template with personalisation",
            (200, "TemplatePreview"),
            body="TemplatePreviewRequest",
            params=[TEMPLATE_ID],
            errors=(400, 404),
            tag="templates",
        )
    },
    "/v2/received-text-messages": {
        "get": op(
            "List the texts received on the service's number, newest first, 250 a page",
            (200, "ReceivedTextList"),
            params=[OLDER_THAN],
            tag="inbound",
        )
    },
}

# Issue 24: GC's template management and reports, for keys holding a permission.
REPORT_ID = path_param("report_id", UUID)
_MANAGE = "Needs a key with the manage_templates permission (else 403)."
_REPORTS = "Needs a key with the manage_reports permission (else 403)."


def _gated(operation: dict[str, Any], needs: str, error: str = "Error") -> dict[str, Any]:
    """An operation that needs a key permission; its 400 is ``error``'s schema."""
    operation["description"] = needs
    if "400" in operation["responses"]:
        operation["responses"]["400"]["content"] = _json(error)
    return operation


def _manage(summary: str, ok: tuple[int, str], **kwargs: Any) -> dict[str, Any]:
    return _gated(op(summary, ok, tag="manage-template", **kwargs), _MANAGE, "TemplateError")


def _csv_content() -> dict[str, Any]:
    operation = op("Download a ready report as CSV", (200, "Error"), params=[REPORT_ID],
                   errors=(404, 409), tag="reports")  # fmt: skip
    operation["responses"]["200"] = {
        "description": "The CSV, as an attachment (chunked)",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
    return _gated(operation, _REPORTS)


PATHS.update({
    "/v2/manage-template": {
        "post": _manage("Create a template", (201, "ManagedTemplate"),
                        body="ManageTemplateCreateRequest"),
    },
    "/v2/manage-template/template-categories": {
        "get": _manage("List the template categories", (200, "TemplateCategoryList"),
                       errors=()),
    },
    "/v2/manage-template/{template_id}": {
        "get": _manage("Get a template with its category", (200, "ManagedTemplate"),
                       params=[TEMPLATE_ID], errors=(400, 404)),
        "patch": _manage("Update a template (its next version)", (200, "ManagedTemplate"),
                         body="ManageTemplateUpdateRequest", params=[TEMPLATE_ID],
                         errors=(400, 404, 409)),
        "delete": _manage("Archive a template (its next version)", (200, "ManagedTemplate"),
                          params=[TEMPLATE_ID], errors=(400, 404, 409)),
    },
    "/v2/reports": {
        "post": _gated(op("Request a report of the last 7 days (10 an hour)",
                          (202, "ReportRequested"), body="ReportRequest", errors=(400, 404),
                          tag="reports"), _REPORTS),
        "get": _gated(op("List the service's reports, newest first, 250 a page",
                         (200, "ReportList"), params=[OLDER_THAN], tag="reports"), _REPORTS),
    },
    "/v2/reports/{report_id}": {
        "get": _gated(op("Get a report's status", (200, "Report"), params=[REPORT_ID],
                         errors=(400, 404), tag="reports"), _REPORTS),
    },
    "/v2/reports/{report_id}/content": {"get": _csv_content()},
})  # fmt: skip
_RATE = PATHS["/v2/reports"]["post"]["responses"]["429"]
_RATE["headers"] = {
    name: {"description": text, "schema": {"type": "integer"}}
    for name, text in (
        ("Retry-After", "Seconds to wait"),
        ("X-RateLimit-Limit", "Requests allowed an hour"),
        ("X-RateLimit-Remaining", "Requests left this hour"),
        ("X-RateLimit-Reset", "When the window has room again (Unix time)"),
    )
}
# Issue 24: every POST of the v2 API takes an Idempotency-Key (engine.api.idempotency).
IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 257},
    "description": "A key of yours, unique per request (IETF draft "
    "draft-ietf-httpapi-idempotency-key-header): a retry with the same key and body gets "
    "the first answer (header Idempotent-Replayed: true) and sends nothing again; kept 24 h",
}
for _path, _item in PATHS.items():
    if _path.startswith("/v2/") and "post" in _item:
        _post = _item["post"]
        _post["parameters"] = [*_post.get("parameters", []), IDEMPOTENCY_KEY]
        _post["responses"].update(_errors(409, 422))

for _alias, _summary in (
    ("/v2/openapi", "This document (no authentication)"),
    ("/v2/openapi-en", "This document (no authentication)"),
    ("/v2/openapi-fr", "This document in French (no authentication)"),
):
    PATHS[_alias] = {
        "get": {
            "summary": _summary,
            "tags": ["meta"],
            "security": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }

DESCRIPTION = """\
A GC Notify / GOV.UK Notify compatible API: the official clients work against it by
changing only the base URL and the API key.

Authentication, on every endpoint except this document:
- `Authorization: Bearer <JWT>`: HS256 signed with the key's secret (its last 36
  characters); claims `iss` = service id (characters -73..-37 of the key) and `iat` = now,
  which must be within 30 seconds of the server's clock.
- `Authorization: ApiKey-v1 <your whole API key>` (GC Notify's static header).

Every error, whatever its status, has the body
`{"status_code": N, "errors": [{"error": "<ClassName>", "message": "<text>"}]}`.
Send `Accept-Language: fr` to get a request's error messages in French; this document in
French is at `/v2/openapi-fr`.
"""

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Notify v2 API", "version": "2.0.0", "description": DESCRIPTION},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "The value is `ApiKey-v1 ` followed by the whole API key.",
            },
        },
    },
    "security": [{"jwt": []}, {"apiKey": []}],
}

_encode = msgspec.json.Encoder().encode


DOCUMENT_FR = openapi_fr.translated(DOCUMENT)


async def get_openapi(deps: ApiDeps, request: Request) -> Response:
    base = request.base_url(deps.settings.public_url).rstrip("/")
    document = {**DOCUMENT, "servers": [{"url": base}]}
    return Response(200, _encode(document))


async def get_openapi_fr(deps: ApiDeps, request: Request) -> Response:
    base = request.base_url(deps.settings.public_url).rstrip("/")
    document = {**DOCUMENT_FR, "servers": [{"url": base}]}
    return Response(200, _encode(document), headers=[(b"content-language", b"fr-CA")])

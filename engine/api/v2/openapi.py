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
        409: "A request with this Idempotency-Key is still in flight: retry later",
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
OLDER_THAN = query_param("older_than", UUID, "Return items created before this one")

PATHS: dict[str, Any] = {
    "/v2/notifications/email": {
        "post": op("Send an email", (201, "PostEmailResponse"), body="PostEmailRequest")
    },
    "/v2/notifications/sms": {
        "post": op("Send a text message", (201, "PostSmsResponse"), body="PostSmsRequest")
    },
    "/v2/notifications/bulk": {
        "post": op("Send in bulk (rows or CSV)", (201, "PostBulkResponse"), body="PostBulkRequest")
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

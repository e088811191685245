"""Schemas of the v2 API's OpenAPI document (``engine.api.v2.openapi``).

JSON Schema 2020-12, as OpenAPI 3.1 uses it. Response objects are ``strict``: every field
required and no other allowed, so validating real responses against them (the tests do)
catches any drift between the document and the engine.
"""

from __future__ import annotations

from typing import Any

from engine.domain import statuses as st

Schema = dict[str, Any]

UUID: Schema = {"type": "string", "format": "uuid"}
TIMESTAMP: Schema = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$",
    "description": "UTC, formatted %Y-%m-%dT%H:%M:%S.%fZ",
}
ISO_DATETIME: Schema = {"type": "string", "format": "date-time"}
STR: Schema = {"type": "string"}
NULL: Schema = {"type": "null"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, NULL]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def strict(properties: dict[str, Schema], description: str = "") -> Schema:
    """A response object: every field present, nothing else."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def request(properties: dict[str, Schema], required: list[str]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


PERSONALISATION: Schema = {
    "type": "object",
    "description": "Placeholder values, matched ignoring case and spaces. A list becomes "
    "bullets in email and 'a, b and c' in SMS. Email only: a file as "
    '{"file": <base64>, "filename": <name>, "sending_method": "attach"|"link"}.',
    "additionalProperties": True,
}
SCHEDULED_FOR: Schema = nullable(
    {
        "type": "string",
        "description": "ISO 8601 date time, not in the past, at most 96 hours ahead.",
    }
)
CALLBACK_URL = (
    "This notification's delivery-status callbacks go to this URL instead of the service's "
    "callback (beyond GC Notify). Its host must be on the service's callback_hosts, and the "
    "service must have a delivery-status callback: its bearer token and signing secret are "
    "used."
)
COMMON_REQUEST: dict[str, Schema] = {
    "template_id": UUID,
    "personalisation": nullable(PERSONALISATION),
    "reference": nullable({"type": "string", "description": "Your own identifier."}),
    "scheduled_for": SCHEDULED_FOR,
    "callback_url": nullable(
        {
            "type": "string",
            "format": "uri",
            "maxLength": 2000,
            "description": CALLBACK_URL,
        }
    ),
}
TEMPLATE_REF = strict({"id": UUID, "version": {"type": "integer"}, "uri": STR})

SCHEMAS: dict[str, Schema] = {
    "PostLetterRequest": {
        "type": "object",
        "description": "A template letter (template_id, personalisation with address_line_1, "
        "address_line_2 and postcode) or a precompiled one (reference, content: base64 PDF).",
        "properties": {
            "template_id": UUID,
            "personalisation": PERSONALISATION,
            "reference": STR,
            "content": STR,
            "postage": {"enum": ["first", "second"]},
        },
    },
    "Error": strict(
        {
            "status_code": {"type": "integer"},
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": strict(
                    {
                        "error": {"type": "string", "description": "Error class name"},
                        "message": STR,
                    }
                ),
            },
        },
        "The error envelope of every v2 error, whatever the status.",
    ),
    "PostEmailRequest": request(
        {
            "email_address": {"type": "string", "format": "email"},
            **COMMON_REQUEST,
            "email_reply_to_id": nullable(UUID),
            "one_click_unsubscribe_url": nullable({"type": "string", "format": "uri"}),
            "sanitise_content_for": nullable({"type": "array", "items": STR}),
        },
        ["email_address", "template_id"],
    ),
    "PostSmsRequest": request(
        {"phone_number": STR, **COMMON_REQUEST, "sms_sender_id": nullable(UUID)},
        ["phone_number", "template_id"],
    ),
    "PostBulkRequest": {
        **request(
            {
                "name": STR,
                "template_id": UUID,
                "rows": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 50_001,
                    "items": {"type": "array", "items": {"type": ["string", "number"]}},
                    "description": "A header row (with 'email address' or 'phone number' "
                    "and the template's placeholders), then up to 50,000 rows.",
                },
                "csv": {"type": "string", "description": "The same, as CSV text."},
                "scheduled_for": SCHEDULED_FOR,
                "reply_to_id": nullable(UUID),
                "reference": nullable(STR),
            },
            ["name", "template_id"],
        ),
        "oneOf": [{"required": ["rows"]}, {"required": ["csv"]}],
    },
    "PostEmailResponse": strict(
        {
            "id": UUID,
            "reference": nullable(STR),
            "content": strict(
                {
                    "from_email": STR,
                    "body": STR,
                    "subject": STR,
                    "one_click_unsubscribe_url": nullable(STR),
                }
            ),
            "uri": STR,
            "template": TEMPLATE_REF,
            "scheduled_for": nullable(STR),
        }
    ),
    "PostSmsResponse": strict(
        {
            "id": UUID,
            "reference": nullable(STR),
            "content": strict({"body": STR, "from_number": nullable(STR)}),
            "uri": STR,
            "template": TEMPLATE_REF,
            "scheduled_for": nullable(STR),
        }
    ),
    "Job": strict(
        {
            "api_key": strict({"id": UUID, "key_type": STR, "name": STR}),
            "archived": {"type": "boolean"},
            "created_at": ISO_DATETIME,
            "created_by": strict({"id": STR, "name": STR}),
            "id": UUID,
            "job_status": {
                "type": "string",
                "description": "pending, scheduled, finished (every row created) or cancelled",
            },
            "notification_count": {"type": "integer"},
            "original_file_name": {"type": "string", "description": "The request's name"},
            "processing_finished": nullable(ISO_DATETIME),
            "processing_started": nullable(ISO_DATETIME),
            "scheduled_for": nullable(ISO_DATETIME),
            "sender_id": nullable(UUID),
            "service": UUID,
            "service_name": strict({"name": STR}),
            "template": UUID,
            "template_version": {"type": "integer"},
            "updated_at": nullable(ISO_DATETIME),
        },
        "A bulk send job (GC's job schema).",
    ),
    "PostBulkResponse": strict({"data": ref("Job")}),
    "BulkJobResponse": strict({"data": ref("BulkJob")}),
    "Notification": strict(
        {
            "id": UUID,
            "reference": nullable(STR),
            "email_address": nullable(STR),
            "phone_number": nullable(STR),
            **{f"line_{i}": NULL for i in range(1, 7)},
            "postcode": NULL,
            "type": {"enum": ["email", "sms", "letter"]},
            "status": {"enum": [s for s in st.ALL_STATUSES if s not in ("accepted", "received")]},
            "status_description": STR,
            "provider_response": nullable(STR),
            "template": TEMPLATE_REF,
            "body": STR,
            "subject": nullable(STR),
            "created_at": TIMESTAMP,
            "created_by_name": nullable(STR),
            "sent_at": nullable(TIMESTAMP),
            "completed_at": nullable(TIMESTAMP),
            "scheduled_for": nullable(TIMESTAMP),
            "postage": nullable(STR),
            "one_click_unsubscribe_url": nullable(STR),
            "is_cost_data_ready": {"type": "boolean"},
            "cost_details": {
                "type": "object",
                "description": "SMS: billable_sms_fragments (GOV.UK's name); email: empty. "
                "No prices: messages are not charged for one by one.",
                "properties": {"billable_sms_fragments": {"type": "integer", "minimum": 0}},
                "additionalProperties": False,
            },
        }
    ),
    "Links": {
        "type": "object",
        "properties": {"current": STR, "next": STR},
        "required": ["current"],
        "additionalProperties": False,
        "description": "`next` is present on every non-empty page.",
    },
    "NotificationList": strict(
        {"notifications": {"type": "array", "items": ref("Notification")}, "links": ref("Links")}
    ),
    "Template": strict(
        {
            "id": UUID,
            "type": {"enum": ["email", "sms", "letter"]},
            "created_at": TIMESTAMP,
            "updated_at": nullable(TIMESTAMP),
            "created_by": STR,
            "version": {"type": "integer", "minimum": 1},
            "body": {"type": "string", "description": "Raw content with ((placeholders))"},
            "subject": nullable(STR),
            "name": STR,
            "personalisation": {
                "type": "object",
                "additionalProperties": strict({"required": {"type": "boolean"}}),
            },
            "postage": nullable(STR),
        }
    ),
    "TemplateList": strict({"templates": {"type": "array", "items": ref("Template")}}),
    "TemplatePreviewRequest": {
        "type": "object",
        "properties": {"personalisation": nullable(PERSONALISATION)},
    },
    "TemplatePreview": strict(
        {
            "id": UUID,
            "type": {"enum": ["email", "sms", "letter"]},
            "version": {"type": "integer"},
            "body": {"type": "string", "description": "Rendered plain text"},
            "html": nullable({"type": "string", "description": "Email HTML"}),
            "subject": nullable(STR),
            "postage": nullable(STR),
        }
    ),
    "ReceivedTextList": strict(
        {
            "received_text_messages": {
                "type": "array",
                "items": strict(
                    {
                        "id": UUID,
                        "created_at": TIMESTAMP,
                        "service_id": UUID,
                        "notify_number": STR,
                        "user_number": STR,
                        "content": STR,
                    }
                ),
            },
            "links": ref("Links"),
        }
    ),
}


# -- issue 24: templates and reports through the API (GC's manage-template and reports) --
_TEMPLATE_TEXT: dict[str, Schema] = {
    "name": {"type": "string", "maxLength": 255},
    "content": {"type": "string", "description": "At most 612 SMS or 50,000 email characters"},
    "subject": {"type": "string", "description": "Email templates only"},
    "template_category_id": UUID,
    "content_fr": nullable({"type": "string", "description": "The French version (null: none)"}),
    "subject_fr": nullable(STR),
}
_CATEGORY = strict({"template_category_id": UUID, "name": STR})
_MANAGED: dict[str, Schema] = {
    "id": UUID,
    "service_id": UUID,
    "service_name": STR,
    "name": STR,
    "type": {"enum": ["email", "sms"]},
    "created_at": TIMESTAMP,
    "updated_at": nullable(TIMESTAMP),
    "created_by": STR,
    "version": {"type": "integer", "minimum": 1},
    "body": STR,
    "subject": nullable(STR),
    "postage": NULL,
    "template_category_id": nullable(UUID),
    "template_category_name": nullable(STR),
    "folder_id": NULL,
    "archived": {"type": "boolean"},
}
REPORT_STATUS: Schema = {"enum": ["requested", "generating", "ready", "error"]}

SCHEMAS.update(
    {
        "ManageTemplateCreateRequest": {
            **request(
                {
                    "name": _TEMPLATE_TEXT["name"],
                    "template_type": {"enum": ["sms", "email"]},
                    **{k: v for k, v in _TEMPLATE_TEXT.items() if k != "name"},
                    "parent_folder_id": UUID,
                },
                ["name", "template_type", "content", "template_category_id"],
            ),
            "if": {"properties": {"template_type": {"const": "email"}}},
            "then": {"required": ["subject"]},
        },
        "ManageTemplateUpdateRequest": request(
            {**_TEMPLATE_TEXT, "parent_folder_id": nullable(UUID)}, []
        ),
        "ManagedTemplate": {
            "type": "object",
            "properties": {**_MANAGED, "body_fr": STR, "subject_fr": nullable(STR)},
            "required": list(_MANAGED),
            "additionalProperties": False,
            "description": "GC's template; body_fr and subject_fr when it has a French version.",
        },
        "TemplateCategoryList": strict(
            {"template_categories": {"type": "array", "items": _CATEGORY}}
        ),
        "TemplateError": {
            "type": "object",
            "properties": {
                **SCHEMAS["Error"]["properties"],
                "template_categories": {"type": "array", "items": _CATEGORY},
            },
            "required": ["status_code", "errors"],
            "additionalProperties": False,
            "description": "The error envelope; a category error adds the categories.",
        },
        "ReportRequest": {
            **request(
                {
                    "report_type": {"enum": ["sms", "email", "job"]},
                    "language": {"enum": ["en", "fr"]},
                    "job_id": nullable(UUID),
                },
                ["report_type", "language"],
            ),
            "if": {"properties": {"report_type": {"const": "job"}}},
            "then": {"properties": {"job_id": UUID}, "required": ["job_id"]},
        },
        "ReportRequested": strict({"report_id": UUID, "status": REPORT_STATUS}),
        "Report": strict(
            {
                "id": UUID,
                "report_type": {"enum": ["sms", "email", "job"]},
                "service_id": UUID,
                "status": REPORT_STATUS,
                "requested_at": TIMESTAMP,
                "completed_at": nullable(TIMESTAMP),
                "expires_at": nullable(TIMESTAMP),
                "api_key_id": nullable(UUID),
            }
        ),
        "ReportList": strict(
            {"reports": {"type": "array", "items": ref("Report")}, "links": ref("Links")}
        ),
    }
)
_JOB = SCHEMAS["Job"]
SCHEMAS["BulkJob"] = strict(
    {
        **_JOB["properties"],
        "statistics": {
            "type": "array",
            "description": "How many of the job's notifications are in each status.",
            "items": strict(
                {"status": {"enum": list(st.ALL_STATUSES)}, "count": {"type": "integer"}}
            ),
        },
    },
    "A bulk send job with counts per status (GC's GET /v2/notifications/bulk/{job_id}).",
)

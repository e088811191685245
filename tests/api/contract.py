"""The contract's field lists (notify-contract.md sections 1.2-1.9) and a validator for
response bodies against the engine's own OpenAPI document, shared by the API tests.

Field sets are written out here from the contract, independently of the engine's code, so
a field added, renamed or dropped on either side fails a test.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

POST_FIELDS = {"id", "reference", "content", "uri", "template", "scheduled_for"}
# GOV.UK's echo of one_click_unsubscribe_url (issue 24; GC has no such field).
EMAIL_CONTENT_FIELDS = {"from_email", "body", "subject", "one_click_unsubscribe_url"}
SMS_CONTENT_FIELDS = {"body", "from_number"}
TEMPLATE_REF_FIELDS = {"id", "version", "uri"}
# Section 1.6, GC's serialize(): the common fields plus status_description and
# provider_response.
NOTIFICATION_FIELDS = {
    "id", "reference", "email_address", "phone_number",
    "line_1", "line_2", "line_3", "line_4", "line_5", "line_6", "postcode",
    "type", "status", "template", "body", "subject", "created_at", "created_by_name",
    "sent_at", "completed_at", "scheduled_for", "postage",
    "status_description", "provider_response",
    # GOV.UK's (issue 24): the email's unsubscribe link and the cost data.
    "one_click_unsubscribe_url", "is_cost_data_ready", "cost_details",
}  # fmt: skip
LIST_FIELDS = {"notifications", "links"}
TEMPLATE_FIELDS = {
    "id", "type", "created_at", "updated_at", "created_by", "version", "body", "subject",
    "name", "personalisation", "postage",
}  # fmt: skip
PREVIEW_FIELDS = {"id", "type", "version", "body", "html", "subject", "postage"}
RECEIVED_FIELDS = {"received_text_messages", "links"}
ERROR_FIELDS = {"status_code", "errors"}


class OpenApiValidator:
    """Validates bodies against ``#/components/schemas/<name>`` of a served document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource("urn:notify-openapi", resource)

    def validate(self, name: str, body: object) -> None:
        schema = {"$ref": f"urn:notify-openapi#/components/schemas/{name}"}
        validator = jsonschema.Draft202012Validator(
            schema,
            registry=self._registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, f"{name}: " + "; ".join(e.message for e in errors)


def assert_notification(body: dict[str, Any]) -> None:
    assert set(body) == NOTIFICATION_FIELDS
    assert set(body["template"]) == TEMPLATE_REF_FIELDS
    assert TIMESTAMP.match(body["created_at"]), body["created_at"]
    for field in ("sent_at", "completed_at", "scheduled_for"):
        assert body[field] is None or TIMESTAMP.match(body[field]), (field, body[field])
    uri = body["template"]["uri"]
    assert uri.endswith(
        f"/v2/template/{body['template']['id']}/version/{body['template']['version']}"
    )

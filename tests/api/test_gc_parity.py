"""GC Notify parity of issue 24, through the official ``notifications-python-client`` where
it has the call and plain HTTP otherwise (real socket, real PostgreSQL). Each error names
the system whose exact message it follows."""

from __future__ import annotations

import pytest
from notifications_python_client.errors import HTTPError

from tests.api.test_python_client import Api, api, error_of, poll_status, run

__all__ = ["api"]  # the fixture, shared with test_python_client


async def test_an_email_on_a_suppression_list_reads_blocked(api: Api) -> None:
    # GC's formatted_status (cds-snc/notification-api models.py): suppressed -> "Blocked".
    sent = await run(
        api.client.send_email_notification,
        email_address="suppressionlist@simulator.amazonses.com",
        template_id=api.setup["email_template"],
        personalisation={"name": "Ada", "code": "1"},
    )
    got = await run(poll_status, api.client, sent["id"], "permanent-failure")
    api.schema.validate("Notification", got)
    assert got["status_description"] == "Blocked"


async def test_a_send_missing_personalisation_names_the_template(api: Api) -> None:
    # GC's check_placeholders (cds-snc/notification-api process_notifications.py).
    tid = api.setup["email_template"]
    with pytest.raises(HTTPError) as exc:
        await run(
            api.client.send_email_notification,
            email_address="someone@example.com",
            template_id=tid,
            personalisation={"name": "Ada"},
        )
    assert error_of(exc.value)["errors"] == [
        {"error": "BadRequestError",
         "message": f"Missing personalisation for template ID {tid}: code"}
    ]  # fmt: skip


async def test_letters_are_refused_as_gc_refuses_a_service_without_them(api: Api) -> None:
    """GC (post_notifications.py, check_service_has_permission): the letter schema's
    violations first, then 400 'Service is not allowed to send letters'. Plain HTTP: the
    python client's send_letter_notification is GOV.UK's, same route."""
    tid = api.setup["email_template"]
    address = {"address_line_1": "A", "address_line_2": "B", "postcode": "K1A 0A1"}
    with pytest.raises(HTTPError) as refused:
        await run(api.client.send_letter_notification, template_id=tid, personalisation=address)
    assert error_of(refused.value)["errors"] == [
        {"error": "BadRequestError", "message": "Service is not allowed to send letters"}
    ]
    assert refused.value.status_code == 400
    async with api.running.client() as http:
        headers = {"Authorization": f"ApiKey-v1 {api.setup['keys']['normal']}"}
        bad = await http.post(
            "/v2/notifications/letter",
            json={"template_id": "x", "personalisation": {"address_line_1": ""}, "foo": 1},
            headers=headers,
        )
        precompiled = await http.post(
            "/v2/notifications/letter", json={"content": "JVBERi0="}, headers=headers
        )
    assert bad.status_code == 400
    assert [e["message"] for e in bad.json()["errors"]] == [
        "template_id is not a valid UUID",
        "personalisation address_line_1 is required",
        "personalisation address_line_2 is a required property",
        "personalisation postcode is a required property",
        "Additional properties are not allowed (foo was unexpected)",
    ]
    assert precompiled.json()["errors"] == [
        {"error": "ValidationError", "message": "reference is a required property"}
    ]

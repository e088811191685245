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

"""GC Notify parity of issue 24, through the official ``notifications-python-client`` where
it has the call and plain HTTP otherwise (real socket, real PostgreSQL). Each error names
the system whose exact message it follows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import trio
from notifications_python_client.errors import HTTPError

from tests.api.test_python_client import Api, api, error_of, poll_status, run
from tests.conftest import RunningEngine

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


def _auth(api: Api, key_type: str = "normal") -> dict[str, str]:
    return {"Authorization": f"ApiKey-v1 {api.setup['keys'][key_type]}"}


async def _bulk(api: Api, rows: int, *, due: dt.datetime | None = None) -> dict[str, Any]:
    sheet = [["email address", "name", "code"]] + [
        [f"p{i}@example.com", "A", str(i)] for i in range(rows)
    ]
    body: dict[str, Any] = {
        "name": "job.csv", "template_id": api.setup["email_template"], "rows": sheet,
    }  # fmt: skip
    if due is not None:
        body["scheduled_for"] = due.isoformat()
    async with api.running.client() as http:
        r = await http.post("/v2/notifications/bulk", json=body, headers=_auth(api))
    assert r.status_code == 201, r.text
    job: dict[str, Any] = r.json()["data"]
    return job


async def _job_call(api: Api, method: str, job_id: str) -> Any:
    async with api.running.client() as http:
        return await http.request(method, f"/v2/notifications/bulk/{job_id}", headers=_auth(api))


async def test_a_bulk_job_with_counts_per_status_and_cancelled_before_it_is_due(api: Api) -> None:
    """GC's GET and DELETE /v2/notifications/bulk/{job_id} (cds-snc/notification-api #3013,
    #3040): the job with ``statistics``; a scheduled job cancelled whole, its rows too."""
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    job = await _bulk(api, 2, due=due)
    got = await _job_call(api, "GET", job["id"])
    assert got.status_code == 200
    api.schema.validate("BulkJobResponse", got.json())
    data = got.json()["data"]
    assert {k: v for k, v in data.items() if k != "statistics"} == {
        **job,
        "updated_at": data["updated_at"],
    }
    assert data["statistics"] == [{"status": "created", "count": 2}]

    cancelled = await _job_call(api, "DELETE", job["id"])
    assert cancelled.status_code == 200, cancelled.text
    api.schema.validate("BulkJobResponse", cancelled.json())
    assert cancelled.json()["data"]["job_status"] == "cancelled"
    assert cancelled.json()["data"]["statistics"] == [{"status": "cancelled", "count": 2}]

    again = await _job_call(api, "DELETE", job["id"])
    assert (again.status_code, again.json()) == (409, {
        "status_code": 409,
        "errors": [{"error": "JobAlreadyCancelledError",
                    "message": "Job has already been cancelled"}],
    })  # fmt: skip
    # Past its time, the feeder of this process finds the job cancelled: nothing is sent.
    # No event marks a feeder finding nothing to feed: wait past the due time, bounded.
    await trio.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()) + 1.5)
    after = (await _job_call(api, "GET", job["id"])).json()["data"]
    assert after["job_status"] == "cancelled"
    assert after["statistics"] == [{"status": "cancelled", "count": 2}]


async def test_a_job_being_sent_or_unknown_cannot_be_cancelled(api: Api) -> None:
    job = await _bulk(api, 1)
    sent = await _job_call(api, "DELETE", job["id"])
    assert (sent.status_code, sent.json()["errors"]) == (409, [{
        "error": "JobCancellationNotAllowedError",
        "message": "Job cannot be cancelled because it is already being sent or has already "
        "been sent",
    }])  # fmt: skip
    for method in ("GET", "DELETE"):
        unknown = await _job_call(api, method, str(uuid.uuid4()))
        assert (unknown.status_code, unknown.json()) == (404, {
            "status_code": 404,
            "errors": [{"error": "JobNotFoundError", "message": "Job not found in database"}],
        })  # fmt: skip
        bad = await _job_call(api, method, "nope")
        assert bad.json()["errors"] == [
            {"error": "ValidationError", "message": "job_id is not a valid UUID"}
        ]
    other = await api.running.create_service(name="Other")
    theirs = await _job_call(Api(api.running, other, api.client, api.schema), "GET", job["id"])
    assert theirs.status_code == 404


async def test_a_cancelled_job_gives_its_messages_back_to_the_day(api: Api) -> None:
    """GC decrements the day's email count when it cancels an email job."""
    async with api.running.admin() as admin:
        r = await admin.patch(f"/admin/services/{api.service_id}", json={"email_daily_limit": 3})
        assert r.status_code == 200, r.text
    due = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    job = await _bulk(api, 3, due=due)
    assert (await _job_call(api, "DELETE", job["id"])).status_code == 200
    await _bulk(api, 3, due=due)  # refused (429) if the 3 were still counted


async def test_list_filters_template_job_and_creation_time(api: Api) -> None:
    """Beyond GC and GOV.UK: template_id (the Australian fork's name), job_id, and our
    created_after / created_before (exclusive bounds). Plain HTTP: the client has no such
    arguments."""
    first = await run(
        api.client.send_email_notification,
        email_address="a@example.com",
        template_id=api.setup["email_template"],
        personalisation={"name": "A", "code": "1"},
    )
    texted = await run(
        api.client.send_sms_notification,
        phone_number="+16135550123",
        template_id=api.setup["sms_template"],
        personalisation={"code": "2"},
    )
    job = await _bulk(api, 2)

    async def listed(**query: str) -> list[str]:
        async with api.running.client() as http:
            r = await http.get("/v2/notifications", params=query, headers=_auth(api))
        assert r.status_code == 200, r.text
        api.schema.validate("NotificationList", r.json())
        return [n["id"] for n in r.json()["notifications"]]

    assert await listed(template_id=api.setup["sms_template"]) == [texted["id"]]
    assert await listed(template_id=api.setup["email_template"]) == [first["id"]]
    in_job = await listed(job_id=job["id"])
    assert len(in_job) == 2
    assert first["id"] not in in_job
    got = await run(api.client.get_notification_by_id, texted["id"])
    at = got["created_at"]
    assert await listed(created_before=at) == [first["id"]]
    assert texted["id"] not in await listed(created_after=at)
    assert await listed(created_after=at, include_jobs="true") == in_job
    async with api.running.client() as http:
        bad = await http.get(
            "/v2/notifications",
            params={"template_id": "x", "created_after": "yesterday"},
            headers=_auth(api),
        )
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"error": "ValidationError", "message": "template_id is not a valid UUID"},
        {"error": "ValidationError", "message": "created_after datetime format is invalid. It "
         "must be a valid ISO8601 date time format, https://en.wikipedia.org/wiki/ISO_8601"},
    ]  # fmt: skip


async def test_validation_lists_every_error_in_notifys_order(api: Api) -> None:
    """Notify's JSON-schema validation (GC schema_validation.validate, iter_errors) lists
    every violation: each property in the schema's order, then missing, then extra ones."""
    with pytest.raises(HTTPError) as exc:
        await run(
            api.client.send_email_notification,
            email_address="not-an-email",
            template_id="not-a-uuid",
            personalisation={"name": "A", "code": "1"},
            email_reply_to_id="nope",
        )
    assert [e["message"] for e in error_of(exc.value)["errors"]] == [
        "email_address Not a valid email address",
        "template_id is not a valid UUID",
        "email_reply_to_id is not a valid UUID",
    ]
    async with api.running.client() as http:  # the client has no scheduled_for
        sms = await http.post(
            "/v2/notifications/sms",
            json={"phone_number": "12", "template_id": "x", "scheduled_for": "tomorrow"},
            headers=_auth(api),
        )
    assert [e["message"] for e in sms.json()["errors"]] == [
        "phone_number Not enough digits",
        "template_id is not a valid UUID",
        "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time "
        "format, https://en.wikipedia.org/wiki/ISO_8601",
    ]
    async with api.running.client() as http:
        r = await http.post(
            "/v2/notifications/email",
            json={"email_address": 5, "template_id": 7, "foo": 1},
            headers=_auth(api),
        )
    assert [e["message"] for e in r.json()["errors"]] == [
        "email_address 5 is not of type string",
        "template_id is not a valid UUID",
        "Additional properties are not allowed (foo was unexpected)",
    ]


async def test_unsubscribe_link_and_cost_data_as_govuk_shows_them(api: Api) -> None:
    """GOV.UK's create_post_email_response_from_notification and serialize_with_cost_data:
    the unsubscribe link echoed in the content and on GET; an SMS's billable fragments."""
    link = "https://example.com/unsubscribe?u=1"
    sent = await run(
        api.client.send_email_notification,
        email_address="someone@example.com",
        template_id=api.setup["email_template"],
        personalisation={"name": "A", "code": "1"},
        one_click_unsubscribe_url=link,
    )
    api.schema.validate("PostEmailResponse", sent)
    assert sent["content"]["one_click_unsubscribe_url"] == link
    got = await run(api.client.get_notification_by_id, sent["id"])
    api.schema.validate("Notification", got)
    assert got["one_click_unsubscribe_url"] == link
    assert (got["is_cost_data_ready"], got["cost_details"]) == (True, {})

    long_code = "x" * 200  # "Test service: Code: " + 200 characters: 2 fragments
    texted = await run(
        api.client.send_sms_notification,
        phone_number="+16135550123",
        template_id=api.setup["sms_template"],
        personalisation={"code": long_code},
    )
    sms = await run(api.client.get_notification_by_id, texted["id"])
    api.schema.validate("Notification", sms)
    assert sms["is_cost_data_ready"] is True
    assert sms["cost_details"] == {"billable_sms_fragments": 2}
    assert sms["one_click_unsubscribe_url"] is None
    listed = await run(api.client.get_all_notifications, template_type="sms")
    assert listed["notifications"][0]["cost_details"] == {"billable_sms_fragments": 2}


@pytest.fixture
def running_engine(scanning_engine: RunningEngine) -> RunningEngine:
    """Files are sent only where they are virus scanned (issue 25)."""
    return scanning_engine


async def test_prepare_upload_files_mean_what_govuk_means(api: Api) -> None:
    """The python client's prepare_upload() output is a link (GOV.UK's files), which asks
    for the recipient's address first unless confirm_email_before_download is false, and
    is kept for retention_period (GOV.UK post_notifications / document download)."""
    import io
    import re

    from notifications_python_client import prepare_upload

    async with api.running.admin() as admin:
        created = await admin.post(
            f"/admin/services/{api.service_id}/templates",
            json={"name": "files", "type": "email", "subject": "Files",
                  "content": "Confirm: ((a))\nOpen: ((b))"},
        )  # fmt: skip
    tid = created.json()["id"]
    confirm = prepare_upload(io.BytesIO(b"secret,1\n"), filename="report.csv")
    assert confirm["confirm_email_before_download"] is None  # GOV.UK: None means ask
    open_file = prepare_upload(
        io.BytesIO(b"open,2\n"), filename="open.csv", confirm_email_before_download=False,
        retention_period="2 weeks",
    )  # fmt: skip
    sent = await run(
        api.client.send_email_notification,
        email_address="Someone@Example.com",
        template_id=tid,
        personalisation={"a": confirm, "b": open_file},
    )
    links = re.findall(r"/d/[0-9a-f-]{36}", sent["content"]["body"])
    assert len(links) == 2
    # Links serve a file once it is scanned clean (issue 25): delivered, it was.
    await run(poll_status, api.client, sent["id"], "delivered")
    async with api.running.client() as http:
        asked = await http.get(links[0])
        wrong = await http.post(links[0], data={"email_address": "other@example.com"})
        right = await http.post(links[0], data={"email_address": " someone@example.com "})
        direct = await http.get(links[1])
    assert asked.status_code == 200
    assert asked.headers["content-type"].startswith("text/html")
    assert b"secret" not in asked.content
    assert 'name="email_address"' in asked.text
    assert wrong.status_code == 403
    assert b"secret" not in wrong.content
    assert "This is not the email address the file was sent to" in wrong.text
    assert (right.status_code, right.content) == (200, b"secret,1\n")
    assert (direct.status_code, direct.content) == (200, b"open,2\n")
    from tests import sql

    kept = await sql.fetch(
        api.running.engine.store,
        "SELECT personalisation_key, round(extract(epoch FROM expires_at - created_at)"
        " / 86400) AS days FROM documents ORDER BY personalisation_key",
    )
    assert [(r["personalisation_key"], r["days"]) for r in kept] == [("a", 182), ("b", 14)]

    with pytest.raises(HTTPError) as bad:
        await run(
            api.client.send_email_notification,
            email_address="someone@example.com",
            template_id=tid,
            personalisation={
                "a": {**confirm, "retention_period": "80 weeks"},
                "b": {**open_file, "confirm_email_before_download": "yes"},
            },
        )
    assert [e["message"] for e in error_of(bad.value)["errors"]] == [
        "Unsupported value for retention_period: 80 weeks. Supported periods are from 1 to 78 "
        "weeks.",
        "Unsupported value for confirm_email_before_download: yes. Use a boolean true or "
        "false value.",
    ]

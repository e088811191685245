"""Every v2 endpoint's error paths, in process: the ASGI app on a fake store
(``tests.api.fakes``), through the ``ApiDeps`` seam. No socket, no PostgreSQL: these pass
with ``DATABASE_URL`` pointing nowhere. Each answer is asserted whole, envelope and all.

The real-HTTP, real-database tables in ``test_errors.py`` / ``test_bulk.py`` check the same
messages end to end; these check what the handlers decide from what the store answers
(e.g. a daily limit reached by counts the store reports, an insert that fails).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import trio

from engine.api.auth import BAD_SCHEME, CLOCK, NO_TOKEN
from engine.api.i18n import translate
from engine.api.v2.cancel import ALREADY_CANCELLED, ALREADY_SENT, NOT_SCHEDULED
from engine.store.counts import SentCounts
from tests.api.fakes import NOW, InProcessApi, Service

MISSING = uuid.UUID("00000000-0000-4000-8000-000000000000")
DOCS = "https://documentation.notification.canada.ca/en/keys.html"
BAD_JWT = (
    "Invalid token: make sure your API token matches the example at "
    "https://documentation.notification.canada.ca/en/start.html#headers"
)


def envelope(status: int, error: str, *messages: str) -> dict[str, Any]:
    return {"status_code": status, "errors": [{"error": error, "message": m} for m in messages]}


def bad_request(message: str) -> dict[str, Any]:
    return envelope(400, "BadRequestError", message)


def invalid(*messages: str) -> dict[str, Any]:
    return envelope(400, "ValidationError", *messages)


NOT_FOUND = envelope(404, "NoResultFound", "No result found")


@pytest.fixture
async def api(nursery: trio.Nursery) -> InProcessApi:
    return InProcessApi().start(nursery)


def email(s: Service, **extra: Any) -> dict[str, Any]:
    return {
        "email_address": "someone@example.com",
        "template_id": str(s.templates["email"]),
        "personalisation": {"name": "Ada", "code": "1"},
        **extra,
    }


def sms(s: Service, **extra: Any) -> dict[str, Any]:
    return {
        "phone_number": "+16135550123",
        "template_id": str(s.templates["sms"]),
        "personalisation": {"code": "1"},
        **extra,
    }


async def answers(
    api: InProcessApi, s: Service, cases: list[tuple[str, str, str, Any, dict[str, Any]]]
) -> None:
    """(name, method, path, json body, wanted envelope); all mismatches reported together."""
    failures = []
    for name, method, path, body, wanted in cases:
        got = await api.request(method, path, json=body, headers=s.bearer())
        if (got.status, got.body) != (wanted["status_code"], wanted):
            failures.append(f"{name}: got {got.status} {got.body}")
        # Asked in French (issue 22): the same envelope, each message in French.
        french = {**wanted, "errors": [
            {**e, "message": translate(e["message"], "fr")} for e in wanted["errors"]
        ]}  # fmt: skip
        fr = await api.request(
            method, path, json=body, headers={**s.bearer(), "Accept-Language": "fr"}
        )
        untranslated = [e for e in fr.body["errors"] if e in wanted["errors"]]
        if (fr.status, fr.body) != (wanted["status_code"], french) or untranslated:
            failures.append(f"{name} (fr): got {fr.status} {fr.body}")
    assert not failures, "\n".join(failures)


async def test_the_fake_world_sends(api: InProcessApi) -> None:
    """The control: a good request is written through the store and routed by the actor."""
    s = api.add_service()
    got = await api.request("POST", "/v2/notifications/email", json=email(s), headers=s.bearer())
    assert got.status == 201, got.body
    assert [r.id for r in api.store.inserted] == [uuid.UUID(got.body["id"])]
    with trio.fail_after(5):
        await api.routed_one.wait()
    assert api.routed[0].notification_id == uuid.UUID(got.body["id"])


async def test_post_request_errors(api: InProcessApi) -> None:
    s = api.add_service()
    sid = s.id
    archived = api.add_template(s, "old", "email", "Hi", subject="Hi", archived=True)
    blank = api.add_template(s, "blank", "sms", "((text))")
    post_email, post_sms = "/v2/notifications/email", "/v2/notifications/sms"
    await answers(api, s, [
        ("schema", "POST", post_email, {},
         invalid("email_address is a required property", "template_id is a required property")),
        ("extra field", "POST", post_email, email(s, foo=1),
         invalid("Additional properties are not allowed (foo was unexpected)")),
        ("bad template id", "POST", post_email, email(s, template_id="abc"),
         invalid("template_id is not a valid UUID")),
        ("template not found", "POST", post_email, email(s, template_id=str(MISSING)),
         bad_request("Template not found")),
        ("wrong type", "POST", post_email, email(s, template_id=str(s.templates["sms"])),
         bad_request("sms template is not suitable for email notification")),
        ("wrong type, sms", "POST", post_sms, sms(s, template_id=str(s.templates["email"])),
         bad_request("email template is not suitable for sms notification")),
        ("archived", "POST", post_email, email(s, template_id=str(archived)),
         bad_request(f"Template {archived} has been deleted")),
        ("missing personalisation", "POST", post_email, email(s, personalisation=None),
         bad_request(f"Missing personalisation for template ID {s.templates['email']}: "
                     "name, code")),
        ("unknown reply-to", "POST", post_email, email(s, email_reply_to_id=str(MISSING)),
         bad_request(f"email_reply_to_id {MISSING} does not exist in database for service id "
                     f"{sid}")),
        ("bad reply-to id", "POST", post_email, email(s, email_reply_to_id="abc"),
         invalid("email_reply_to_id is not a valid UUID")),
        ("unknown sms sender", "POST", post_sms, sms(s, sms_sender_id=str(MISSING)),
         bad_request(f"sms_sender_id {MISSING} does not exist in database for service id "
                     f"{sid}")),
        ("empty message", "POST", post_sms,
         sms(s, template_id=str(blank), personalisation={"text": "  "}),
         bad_request("Message is empty or just whitespace")),
        ("empty recipient", "POST", post_email, email(s, email_address=" "),
         bad_request("Recipient can't be empty")),
        ("bad address", "POST", post_email, email(s, email_address="nope"),
         invalid("email_address Not a valid email address")),
        ("international", "POST", post_sms, sms(s, phone_number="+33612345678"),
         bad_request("Cannot send to international mobile numbers")),
    ])  # fmt: skip
    assert api.store.inserted == []


async def test_bad_json_and_content_type(api: InProcessApi) -> None:
    s = api.add_service()
    got = await api.request(
        "POST",
        "/v2/notifications/email",
        content=b"{",
        headers={**s.bearer(), "Content-Type": "application/json"},
    )
    assert (got.status, got.body) == (
        400,
        bad_request("Error decoding arguments: Input data was truncated"),
    )
    got = await api.request(
        "POST",
        "/v2/notifications/sms",
        content=b"phone_number=1",
        headers={**s.bearer(), "Content-Type": "text/plain"},
    )
    assert (got.status, got.body) == (
        415,
        envelope(
            415,
            "UnsupportedMediaType",
            "UnsupportedMediaType error: Content-Type must be application/json",
        ),
    )


async def test_rate_limit(api: InProcessApi) -> None:
    # 3 a minute: a bucket of 2 tokens.
    s = api.add_service(rate_limit=3)
    got = [
        await api.request("POST", "/v2/notifications/email", json=email(s), headers=s.bearer())
        for _ in range(3)
    ]
    assert [g.status for g in got] == [201, 201, 429]
    assert got[2].body == envelope(
        429, "RateLimitError", "Exceeded rate limit for key type LIVE of 3 requests per 60 seconds"
    )


async def test_daily_limit_counts_what_the_store_reports(api: InProcessApi) -> None:
    s = api.add_service(email_daily_limit=3)
    api.store.counts.sent_by[s.id] = [
        SentCounts(notification_type="email", today_messages=3, today_units=3, year_messages=3)
    ]
    got = await api.request("POST", "/v2/notifications/email", json=email(s), headers=s.bearer())
    assert (got.status, got.body) == (
        429,
        envelope(
            429,
            "LiveServiceTooManyEmailRequestsError",
            "Exceeded email daily sending limit of 3 messages",
        ),
    )
    # Test keys are not counted against the limit.
    got = await api.request(
        "POST", "/v2/notifications/email", json=email(s), headers=s.bearer("test")
    )
    assert got.status == 201, got.body


async def test_a_failed_insert_gives_the_count_back(api: InProcessApi) -> None:
    s = api.add_service(email_daily_limit=1)
    api.store.fail_inserts = 1
    got = await api.request("POST", "/v2/notifications/email", json=email(s), headers=s.bearer())
    assert (got.status, got.body) == (500, envelope(500, "Exception", "Internal server error"))
    got = await api.request("POST", "/v2/notifications/email", json=email(s), headers=s.bearer())
    assert got.status == 201, got.body


async def test_trial_mode_team_key_and_suspended(api: InProcessApi) -> None:
    trial = api.add_service(restricted=True)
    got = await api.request(
        "POST", "/v2/notifications/sms", json=sms(trial), headers=trial.bearer()
    )
    assert (got.status, got.body) == (
        400,
        bad_request(
            f"Can’t send to this recipient when service is in trial mode – see {DOCS}#live"
        ),
    )
    s = api.add_service()
    got = await api.request(
        "POST", "/v2/notifications/email", json=email(s), headers=s.bearer("team")
    )
    assert (got.status, got.body) == (
        400,
        bad_request(
            f"Can’t send to this recipient using a team-only API key (service {s.id}) - see "
            f"{DOCS}#team-and-safelist"
        ),
    )
    suspended = api.add_service(suspended=True)
    got = await api.request(
        "POST", "/v2/notifications/email", json=email(suspended), headers=suspended.bearer()
    )
    assert (got.status, got.body) == (403, envelope(403, "BadRequestError", "Service is suspended"))


def rows(n: int) -> list[list[str]]:
    return [["email address", "name", "code"]] + [
        [f"person{i}@example.com", f"P{i}", str(i)] for i in range(n)
    ]


async def test_bulk_errors(api: InProcessApi) -> None:
    s = api.add_service(email_daily_limit=100_000)
    template = str(s.templates["email"])
    path = "/v2/notifications/bulk"
    await answers(api, s, [
        ("schema", "POST", path, {"rows": 5, "bad": 1},
         # GC's order: properties, then required, then additional (jsonschema iter_errors).
         invalid("rows 5 is not of type array", "template_id is a required property",
                 "name is a required property",
                 "Additional properties are not allowed (bad was unexpected)")),
        ("neither rows nor csv", "POST", path, {"name": "x", "template_id": template},
         bad_request("You should specify either rows or csv")),
        ("missing placeholders", "POST", path,
         {"name": "x", "template_id": template, "rows": [["email address"], ["a@example.com"]]},
         bad_request("Missing column headers: code, name")),
        ("bad header", "POST", path,
         {"name": "x", "template_id": template,
          "rows": [["email address", "name", "code", "Email Address"], ["a@b.ca", "n", "c", "d"]]},
         bad_request("Duplicate column headers: email address, Email Address")),
        ("too many rows", "POST", path,
         {"name": "x", "template_id": template, "rows": rows(50_001)},
         bad_request("Too many rows. Maximum number of rows allowed is 50000")),
        ("row errors", "POST", path,
         {"name": "x", "template_id": template,
          "rows": [["email address", "name", "code"], ["a@example.com", "", "1"],
                   ["no", "B", "2"]]},
         bad_request("Some rows have errors. Row 1 - `name`: Missing. "
                     "Row 2 - `email address`: invalid recipient.")),
        ("template not found", "POST", path,
         {"name": "x", "template_id": str(MISSING), "rows": rows(1)},
         bad_request("Template not found")),
    ])  # fmt: skip
    assert api.store.jobs.inserted == []
    assert api.store.inserted == []


async def test_bulk_over_the_daily_limit(api: InProcessApi) -> None:
    s = api.add_service(email_daily_limit=5)
    api.store.counts.sent_by[s.id] = [
        SentCounts(notification_type="email", today_messages=2, today_units=2, year_messages=2)
    ]
    body = {"name": "x", "template_id": str(s.templates["email"]), "rows": rows(4)}
    got = await api.request("POST", "/v2/notifications/bulk", json=body, headers=s.bearer())
    assert (got.status, got.body) == (
        400,
        bad_request(
            "You only have 3 remaining messages before you reach your daily limit. "
            "You've tried to send 4 messages."
        ),
    )


async def test_get_and_list_errors(api: InProcessApi) -> None:
    s = api.add_service()
    await answers(api, s, [
        ("bad id", "GET", "/v2/notifications/abc", None,
         invalid("notification_id is not a valid UUID")),
        ("not found", "GET", f"/v2/notifications/{MISSING}", None, NOT_FOUND),
        ("bad template_type", "GET", "/v2/notifications?template_type=fax", None,
         invalid("template_type fax is not one of [sms, email, letter]")),
        ("bad status", "GET", "/v2/notifications?status=nope", None,
         invalid("status nope is not one of [cancelled, created, sending, sent, delivered, "
                 "pending, failed, technical-failure, temporary-failure, permanent-failure, "
                 "pending-virus-check, validation-failed, virus-scan-failed, returned-letter, "
                 "provider-failure, pii-check-failed, accepted, received]")),
        ("bad older_than", "GET", "/v2/notifications?older_than=x", None,
         invalid("older_than is not a valid UUID")),
        ("extra arg", "GET", "/v2/notifications?foo=1", None,
         invalid("Additional properties are not allowed (foo was unexpected)")),
    ])  # fmt: skip
    # None of the refused lists reached the store.
    assert api.store.notifications.pages == []


async def test_cancel_errors(api: InProcessApi) -> None:
    s = api.add_service()
    other = api.add_service()

    def row(status: str, scheduled: bool, service: Service = s) -> uuid.UUID:
        notification_id = uuid.uuid4()
        api.store.notifications.rows[notification_id] = {
            "id": notification_id,
            "service_id": service.id,
            "status": status,
            "scheduled_for": NOW if scheduled else None,
        }
        return notification_id

    await answers(api, s, [
        ("bad id", "DELETE", "/v2/notifications/abc", None,
         invalid("notification_id is not a valid UUID")),
        ("not found", "DELETE", f"/v2/notifications/{MISSING}", None, NOT_FOUND),
        ("another service's", "DELETE", f"/v2/notifications/{row('created', True, other)}",
         None, NOT_FOUND),
        ("not scheduled", "DELETE", f"/v2/notifications/{row('created', False)}", None,
         bad_request(NOT_SCHEDULED)),
        ("already sent", "DELETE", f"/v2/notifications/{row('delivered', True)}", None,
         bad_request(ALREADY_SENT)),
        ("already cancelled", "DELETE", f"/v2/notifications/{row('cancelled', True)}", None,
         bad_request(ALREADY_CANCELLED)),
    ])  # fmt: skip
    assert api.changes == []


async def test_template_errors(api: InProcessApi) -> None:
    s = api.add_service()
    email_id = s.templates["email"]
    await answers(api, s, [
        ("bad id", "GET", "/v2/template/abc", None, invalid("id is not a valid UUID")),
        ("not found", "GET", f"/v2/template/{MISSING}", None, NOT_FOUND),
        ("version 0", "GET", f"/v2/template/{email_id}/version/0", None,
         invalid("version 0 is less than the minimum of 1")),
        ("version not found", "GET", f"/v2/template/{email_id}/version/9", None, NOT_FOUND),
        ("list bad type", "GET", "/v2/templates?type=fax", None,
         invalid("type fax is not one of [sms, email, letter]")),
        ("preview not found", "POST", f"/v2/template/{MISSING}/preview", {}, NOT_FOUND),
        ("preview missing", "POST", f"/v2/template/{s.templates['sms']}/preview",
         {"personalisation": {}}, bad_request("Missing personalisation: code")),
    ])  # fmt: skip


async def test_received_text_errors(api: InProcessApi) -> None:
    s = api.add_service()
    await answers(api, s, [
        ("bad older_than", "GET", "/v2/received-text-messages?older_than=x", None,
         invalid("older_than is not a valid UUID")),
        ("extra arg", "GET", "/v2/received-text-messages?foo=1", None,
         invalid("Additional properties are not allowed (foo was unexpected)")),
    ])  # fmt: skip


async def test_auth_failures(api: InProcessApi) -> None:
    s = api.add_service()
    revoked = api.add_key(s, "normal", revoked=True)
    archived = api.add_service(active=False)
    unknown = Service(uuid.uuid4())

    def auth(status: int, message: str) -> tuple[int, dict[str, Any]]:
        return status, envelope(status, "AuthError", message)

    cases: list[tuple[str, dict[str, str], tuple[int, dict[str, Any]]]] = [
        ("no header", {}, auth(401, NO_TOKEN)),
        ("basic scheme", {"Authorization": "Basic abc"}, auth(401, BAD_SCHEME)),
        ("not a jwt", {"Authorization": "Bearer nonsense"}, auth(403, BAD_JWT)),
        ("wrong secret", s.bearer(secret=str(uuid.uuid4())),
         auth(403, "Invalid token: signature, api token not found")),
        ("revoked key", s.bearer(secret=revoked[-36:]),
         auth(403, "Invalid token: API key revoked")),
        ("revoked ApiKey-v1", {"Authorization": f"ApiKey-v1 gcntfy-{revoked}"},
         auth(403, "Invalid token: API key revoked")),
        ("unknown service", unknown.bearer(secret=str(uuid.uuid4())),
         auth(403, "Invalid token: service not found")),
        ("archived service", archived.bearer(), auth(403, "Invalid token: service is archived")),
        ("iat 40 s old", s.bearer(iat_offset=-40), auth(403, CLOCK)),
    ]  # fmt: skip
    failures = []
    for path in ("/v2/notifications", "/v2/templates", "/v2/received-text-messages"):
        for name, headers, wanted in cases:
            got = await api.request("GET", path, headers=headers)
            if (got.status, got.body) != wanted:
                failures.append(f"{path} {name}: got {got.status} {got.body}")
    got = await api.request(
        "POST",
        "/v2/notifications/email",
        json=email(s),
        headers={"Authorization": f"ApiKey-v1 gcntfy-{revoked}"},
    )
    if (got.status, got.body) != auth(403, "Invalid token: API key revoked"):
        failures.append(f"POST revoked: got {got.status} {got.body}")
    assert not failures, "\n".join(failures)

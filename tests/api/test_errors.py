"""A table of every contract error message that applies (notify-contract.md 1.11, 2, 4),
each asserted exactly, envelope and all, through HTTP against a running engine.

Each table runs against one engine; a mismatch is reported with the case's name, and all
mismatches of a table are reported together.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import trio

from engine.api.auth import BAD_SCHEME, CLOCK, NO_TOKEN
from engine.api.i18n import translate
from tests import sql
from tests.conftest import RunningEngine

Setup = dict[str, Any]
Headers = Callable[[Setup], dict[str, str]]

DOCS = "https://documentation.notification.canada.ca/en/keys.html"
BAD_JWT = (
    "Invalid token: make sure your API token matches the example at "
    "https://documentation.notification.canada.ca/en/start.html#headers"
)
SCHEDULE_FORMAT = (
    "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time format, "
    "https://en.wikipedia.org/wiki/ISO_8601"
)


def parts(key: str) -> tuple[str, str]:
    return key[-73:-37], key[-36:]


def token(secret: str, claims: dict[str, Any], algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm=algorithm)}"}


def bearer(key: str, *, iat_offset: float = 0.0) -> dict[str, str]:
    sid, secret = parts(key)
    return token(secret, {"iss": sid, "iat": int(time.time() + iat_offset)})


def key_of(kind: str = "normal") -> Headers:
    return lambda s: bearer(s["keys"][kind])


def api_key(kind: str = "normal") -> Headers:
    return lambda s: {"Authorization": f"ApiKey-v1 gcntfy-{s['keys'][kind]}"}


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    error: str
    message: str | list[str]
    json: object = None
    content: bytes | None = None
    headers: Headers = field(default_factory=key_of)
    content_type: str | None = None
    prefix: bool = False  # the message is only checked to start with ``message``


def email(s: Setup, **extra: Any) -> dict[str, Any]:
    return {
        "email_address": "someone@example.com",
        "template_id": s["email_template"],
        "personalisation": {"name": "Ada", "code": "1"},
        **extra,
    }


def sms(s: Setup, **extra: Any) -> dict[str, Any]:
    return {
        "phone_number": "+16135550123",
        "template_id": s["sms_template"],
        "personalisation": {"code": "1"},
        **extra,
    }


async def check(running: RunningEngine, setup: Setup, cases: list[Case]) -> None:
    failures: list[str] = []
    async with running.client() as client:
        for case in cases:
            headers = case.headers(setup)
            if case.content_type:
                headers["Content-Type"] = case.content_type
            path = case.path.format(**setup_fields(setup))
            with trio.fail_after(10):
                r = await client.request(
                    case.method, path, headers=headers, json=case.json, content=case.content
                )
            wanted = case.message if isinstance(case.message, list) else [case.message]
            wanted = [m.format(**setup_fields(setup)) for m in wanted]
            got = r.json()
            messages = [e.get("message") for e in got.get("errors", [])]
            ok = (
                r.status_code == case.status
                and got.get("status_code") == case.status
                and set(got) == {"status_code", "errors"}
                and all(e.get("error") == case.error for e in got["errors"])
                and (
                    messages[0].startswith(wanted[0])
                    if case.prefix and len(messages) == 1
                    else messages == wanted
                )
            )
            if not ok:
                failures.append(f"{case.name}: got {r.status_code} {got}")
                continue
            # The same request asking for French (issue 22): same status and names, each
            # message the catalogue's French of the English just checked.
            with trio.fail_after(10):
                fr = await client.request(
                    case.method,
                    path,
                    headers={**headers, "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.8"},
                    json=case.json,
                    content=case.content,
                )
            french = fr.json()
            if (
                fr.status_code != r.status_code
                or [e["error"] for e in french["errors"]] != [e["error"] for e in got["errors"]]
                or [e["message"] for e in french["errors"]]
                != [translate(m, "fr") for m in messages]
                or fr.headers.get("content-language") != "fr-CA"
                or any(f["message"] == m for f, m in zip(french["errors"], messages, strict=True))
            ):
                failures.append(f"{case.name} (fr): got {fr.status_code} {french}")
    assert not failures, "\n".join(failures)


def setup_fields(s: Setup) -> dict[str, str]:
    return {
        "sid": s["service"]["id"],
        "email": s["email_template"],
        "sms": s["sms_template"],
        "missing": "00000000-0000-4000-8000-000000000000",
    }


async def service(running: RunningEngine, **fields: Any) -> Setup:
    return await running.create_service(**fields)


async def admin_patch(running: RunningEngine, s: Setup, **fields: Any) -> None:
    async with running.admin() as a:
        r = await a.patch(f"/admin/services/{s['service']['id']}", json=fields)
    assert r.status_code == 200, r.text


async def test_auth_errors(running_engine: RunningEngine) -> None:
    main = await service(running_engine)
    # A revoked key, an archived service and a service without keys.
    revoked = await service(running_engine)
    async with running_engine.admin() as a:
        sid = revoked["service"]["id"]
        keys = (await a.post(f"/admin/services/{sid}/api-keys", json={"name": "gone"})).json()
        await a.delete(f"/admin/services/{sid}/api-keys/{keys['id']}")
        keyless = (await a.post("/admin/services", json={"name": "n", "email_from": "n"})).json()
    archived = await service(running_engine)
    await admin_patch(running_engine, archived, active=False)
    sid, secret = parts(main["keys"]["normal"])
    gone = keys["key"]
    now = int(time.time())

    def fixed(headers: dict[str, str]) -> Headers:
        return lambda s: headers

    def auth(name: str, headers: Headers, status: int, message: str) -> Case:
        return Case(name, "GET", "/v2/notifications", status, "AuthError", message, headers=headers)

    cases = [
        auth("no header", fixed({}), 401, NO_TOKEN),
        auth("basic scheme", fixed({"Authorization": "Basic abc"}), 401, BAD_SCHEME),
        auth("bearer without token", fixed({"Authorization": "Bearer"}), 401, BAD_SCHEME),
        auth("not a jwt", fixed({"Authorization": "Bearer nonsense"}), 403, BAD_JWT),
        auth(
            "HS512",
            fixed(token(secret * 2, {"iss": sid, "iat": now}, "HS512")),
            403,
            "Invalid token: algorithm used is not HS256",
        ),
        auth(
            "no iss",
            fixed(token(secret, {"iat": now})),
            403,
            "Invalid token: iss field not provided",
        ),
        auth(
            "iss not a uuid",
            fixed(token(secret, {"iss": "abc", "iat": now})),
            403,
            "Invalid token: service id is not the right data type",
        ),
        auth(
            "unknown service",
            fixed(token(secret, {"iss": str(uuid.uuid4()), "iat": now})),
            403,
            "Invalid token: service not found",
        ),
        auth(
            "service without keys",
            fixed(token(secret, {"iss": keyless["id"], "iat": now})),
            403,
            "Invalid token: service has no API keys",
        ),
        auth(
            "archived service",
            lambda s: bearer(archived["keys"]["normal"]),
            403,
            "Invalid token: service is archived",
        ),
        auth(
            "wrong secret",
            fixed(token(str(uuid.uuid4()), {"iss": sid, "iat": now})),
            403,
            "Invalid token: signature, api token not found",
        ),
        auth("revoked key", lambda s: bearer(gone), 403, "Invalid token: API key revoked"),
        auth("iat 40 s old", lambda s: bearer(s["keys"]["normal"], iat_offset=-40), 403, CLOCK),
        auth("iat 40 s ahead", lambda s: bearer(s["keys"]["normal"], iat_offset=40), 403, CLOCK),
        auth("no iat", fixed(token(secret, {"iss": sid})), 403, CLOCK),
        auth(
            "ApiKey-v1 too short",
            fixed({"Authorization": "ApiKey-v1 gcntfy-abc"}),
            403,
            "Invalid token: Enter your full API key",
        ),
        auth(
            "ApiKey-v1 unknown secret",
            fixed({"Authorization": f"ApiKey-v1 gcntfy-k-{sid}-{uuid.uuid4()}"}),
            403,
            "Invalid token: API key not found",
        ),
        auth(
            "ApiKey-v1 unknown service",
            fixed({"Authorization": f"ApiKey-v1 gcntfy-k-{uuid.uuid4()}-{secret}"}),
            403,
            "Invalid token: API key not found",
        ),
        auth(
            "ApiKey-v1 revoked",
            fixed({"Authorization": f"ApiKey-v1 {gone}"}),
            403,
            "Invalid token: API key revoked",
        ),
    ]
    await check(running_engine, main, cases)


async def test_request_errors(running_engine: RunningEngine) -> None:
    s = await service(running_engine)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=100)).isoformat()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    missing = "00000000-0000-4000-8000-000000000000"

    def post_email(name: str, message: str | list[str], body: Any, error: str = "") -> Case:
        kind = error or ("ValidationError" if isinstance(message, list) else "BadRequestError")
        return Case(name, "POST", "/v2/notifications/email", 400, kind, message, json=body)

    def post_sms(name: str, message: str | list[str], body: Any, error: str = "") -> Case:
        kind = error or ("ValidationError" if isinstance(message, list) else "BadRequestError")
        return Case(name, "POST", "/v2/notifications/sms", 400, kind, message, json=body)

    def get(name: str, path: str, message: str, status: int = 400, error: str = "") -> Case:
        kind = error or ("ValidationError" if status == 400 else "NoResultFound")
        return Case(name, "GET", path, status, kind, message)

    cases = [
        post_email(
            "empty body",
            ["email_address is a required property", "template_id is a required property"],
            {},
        ),
        post_email(
            "extra field",
            ["Additional properties are not allowed (foo was unexpected)"],
            email(s, foo=1),
        ),
        post_email(
            "personalisation not an object",
            ["personalisation 5 is not of type object"],
            email(s, personalisation=5),
        ),
        post_email(
            "bad template id", ["template_id is not a valid UUID"], email(s, template_id="abc")
        ),
        post_email(
            "bad address",
            ["email_address Not a valid email address"],
            email(s, email_address="not-an-email"),
        ),
        post_email("empty address", "Recipient can't be empty", email(s, email_address=" ")),
        post_email("unknown template", "Template not found", email(s, template_id=missing)),
        post_email(
            "sms template by email",
            "sms template is not suitable for email notification",
            email(s, template_id=s["sms_template"]),
        ),
        post_email(
            "missing personalisation",
            # GC's send wording (cds-snc/notification-api process_notifications.py).
            f"Missing personalisation for template ID {s['email_template']}: name, code",
            email(s, personalisation=None),
        ),
        post_email(
            "unknown reply-to",
            f"email_reply_to_id {missing} does not exist in database for service id {{sid}}",
            email(s, email_reply_to_id=missing),
        ),
        post_email(
            "scheduled in the past",
            ["scheduled_for datetime cannot be in the past"],
            email(s, scheduled_for=past),
        ),
        post_email(
            "scheduled too far",
            ["scheduled_for datetime can only be up to 96 hours in the future"],
            email(s, scheduled_for=future),
        ),
        post_email("scheduled not a date", [SCHEDULE_FORMAT], email(s, scheduled_for="tomorrow")),
        post_email(
            "personalisation too big",
            "Personalisation variables size of 51202 bytes is greater than allowed limit of "
            "51200 bytes.",
            email(s, personalisation={"name": "x" * 51_201, "code": "1"}),
        ),
        Case(
            "bad json",
            "POST",
            "/v2/notifications/email",
            400,
            "BadRequestError",
            "Error decoding arguments: ",
            content=b"{",
            content_type="application/json",
            prefix=True,
        ),
        Case(
            "not json",
            "POST",
            "/v2/notifications/email",
            415,
            "UnsupportedMediaType",
            "UnsupportedMediaType error: Content-Type must be application/json",
            content=b"email_address=a",
            content_type="text/plain",
        ),
        post_sms(
            "letters in number",
            ["phone_number Must not contain letters or symbols"],
            sms(s, phone_number="abc"),
        ),
        post_sms(
            "short number", ["phone_number Not enough digits"], sms(s, phone_number="+1613555")
        ),
        post_sms(
            "long number",
            ["phone_number Too many digits"],
            sms(s, phone_number="+1613555012345678"),
        ),
        post_sms(
            "bad prefix",
            ["phone_number Not a valid country prefix"],
            sms(s, phone_number="+99912345678"),
        ),
        post_sms(
            "international",
            "Cannot send to international mobile numbers",
            sms(s, phone_number="+33612345678"),
        ),
        post_sms(
            "unknown sms sender",
            f"sms_sender_id {missing} does not exist in database for service id {{sid}}",
            sms(s, sms_sender_id=missing),
        ),
        post_sms(
            "too long",
            "Content for template has a character count greater than the limit of 612",
            sms(s, personalisation={"code": "x" * 700}),
        ),
        post_sms(
            "email template by sms",
            "email template is not suitable for sms notification",
            sms(s, template_id=s["email_template"]),
        ),
        Case(
            "team key, stranger",
            "POST",
            "/v2/notifications/email",
            400,
            "BadRequestError",
            "Can’t send to this recipient using a team-only API key (service {sid}) - see "
            f"{DOCS}#team-and-safelist",
            json=email(s),
            headers=key_of("team"),
        ),
        get("get bad id", "/v2/notifications/abc", "notification_id is not a valid UUID"),
        get("get unknown id", f"/v2/notifications/{missing}", "No result found", 404),
        get(
            "list bad type",
            "/v2/notifications?template_type=fax",
            "template_type fax is not one of [sms, email, letter]",
        ),
        get(
            "list extra arg",
            "/v2/notifications?foo=1",
            "Additional properties are not allowed (foo was unexpected)",
        ),
        get("list bad cursor", "/v2/notifications?older_than=x", "older_than is not a valid UUID"),
        get(
            "templates bad type",
            "/v2/templates?type=fax",
            "type fax is not one of [sms, email, letter]",
        ),
        get("template bad id", "/v2/template/abc", "id is not a valid UUID"),
        get("template unknown", f"/v2/template/{missing}", "No result found", 404),
        get(
            "template version 0",
            "/v2/template/{email}/version/0",
            "version 0 is less than the minimum of 1",
        ),
        get("template version unknown", "/v2/template/{email}/version/9", "No result found", 404),
        Case(
            "preview unknown",
            "POST",
            f"/v2/template/{missing}/preview",
            404,
            "NoResultFound",
            "No result found",
            json={},
        ),
        Case(
            "preview missing",
            "POST",
            "/v2/template/{sms}/preview",
            400,
            "BadRequestError",
            "Missing personalisation: code",
            json={"personalisation": {}},
        ),
        get(
            "received bad cursor",
            "/v2/received-text-messages?older_than=x",
            "older_than is not a valid UUID",
        ),
        Case(
            "cancel bad id",
            "DELETE",
            "/v2/notifications/abc",
            400,
            "ValidationError",
            "notification_id is not a valid UUID",
        ),
        get(
            "unknown path",
            "/v2/nothing",
            "The requested URL was not found on the server.",
            404,
            "NotFound",
        ),
        Case(
            "wrong method",
            "PUT",
            "/v2/notifications/email",
            405,
            "MethodNotAllowed",
            "The method is not allowed for the requested URL.",
            json={},
        ),
    ]
    await check(running_engine, s, cases)


async def test_trial_suspended_and_international(running_engine: RunningEngine) -> None:
    trial = await service(running_engine, restricted=True)
    await check(
        running_engine,
        trial,
        [
            Case(
                "trial mode, stranger",
                "POST",
                "/v2/notifications/sms",
                400,
                "BadRequestError",
                f"Can’t send to this recipient when service is in trial mode – see {DOCS}#live",
                json=sms(trial),
                headers=api_key(),
            )
        ],
    )
    suspended = await service(running_engine)
    await admin_patch(running_engine, suspended, suspended=True)
    await check(
        running_engine,
        suspended,
        [
            Case(
                "suspended",
                "POST",
                "/v2/notifications/email",
                403,
                "BadRequestError",
                "Service is suspended",
                json=email(suspended),
            )
        ],
    )
    # With the permission, the same international number is accepted.
    abroad = await service(running_engine, international_sms=True)
    async with running_engine.client() as client:
        r = await client.post(
            "/v2/notifications/sms",
            json=sms(abroad, phone_number="+33612345678"),
            headers=bearer(abroad["keys"]["normal"]),
        )
    assert r.status_code == 201, r.text


async def _post(running: RunningEngine, path: str, body: Any, key: str) -> Any:
    async with running.client() as client:
        with trio.fail_after(10):
            return await client.post(path, json=body, headers=bearer(key))


async def test_rate_limit(running_engine: RunningEngine) -> None:
    # 3 a minute: a bucket of ceil(3 / 3) + 1 = 2 tokens, refilled at one per 20 s.
    s = await service(running_engine, rate_limit=3)
    statuses = [
        (await _post(running_engine, "/v2/notifications/email", email(s), s["keys"]["normal"]))
        for _ in range(3)
    ]
    assert [r.status_code for r in statuses] == [201, 201, 429]
    assert statuses[2].json() == {
        "status_code": 429,
        "errors": [
            {
                "error": "RateLimitError",
                "message": "Exceeded rate limit for key type LIVE of 3 requests per 60 seconds",
            }
        ],
    }
    # Buckets are per key type.
    test_key = s["keys"]["test"]
    tests = [await _post(running_engine, "/v2/notifications/email", email(s), test_key)]
    tests += [await _post(running_engine, "/v2/notifications/email", email(s), test_key)]
    third = await _post(running_engine, "/v2/notifications/email", email(s), test_key)
    assert [r.status_code for r in tests] == [201, 201]
    assert third.status_code == 429
    assert third.json()["errors"][0]["message"] == (
        "Exceeded rate limit for key type TEST of 3 requests per 60 seconds"
    )


async def test_daily_and_annual_limits(running_engine: RunningEngine) -> None:
    cases = [
        (
            {"email_daily_limit": 1},
            "/v2/notifications/email",
            email,
            "LiveServiceTooManyEmailRequestsError",
            "Exceeded email daily sending limit of 1 messages",
        ),
        (
            {"sms_daily_limit": 1},
            "/v2/notifications/sms",
            sms,
            "LiveServiceTooManySMSRequestsError",
            "Exceeded SMS daily sending limit of 1 fragments",
        ),
        (
            {"email_annual_limit": 1},
            "/v2/notifications/email",
            email,
            "LiveServiceTooManyEmailRequestsError",
            "Exceeded annual email sending limit of 1 messages",
        ),
        (
            {"sms_annual_limit": 1},
            "/v2/notifications/sms",
            sms,
            "LiveServiceTooManySMSRequestsError",
            "Exceeded annual SMS sending limit of 1 messages",
        ),
    ]
    for limits, path, body, error, message in cases:
        s = await service(running_engine, **limits)
        first = await _post(running_engine, path, body(s), s["keys"]["normal"])
        second = await _post(running_engine, path, body(s), s["keys"]["normal"])
        assert first.status_code == 201, (limits, first.text)
        assert second.status_code == 429, (limits, second.text)
        assert second.json() == {
            "status_code": 429,
            "errors": [{"error": error, "message": message}],
        }
        # Test keys are not counted against the limits.
        test = await _post(running_engine, path, body(s), s["keys"]["test"])
        assert test.status_code == 201, (limits, test.text)


async def test_simulated_recipients_are_accepted_but_never_stored(
    running_engine: RunningEngine,
) -> None:
    s = await service(running_engine)
    key = s["keys"]["normal"]
    sent = [
        await _post(
            running_engine,
            "/v2/notifications/email",
            email(s, email_address="simulate-delivered@notification.canada.ca"),
            key,
        ),
        await _post(
            running_engine, "/v2/notifications/sms", sms(s, phone_number="+16132532222"), key
        ),
    ]
    async with running_engine.client() as client:
        for r in sent:
            assert r.status_code == 201, r.text
            got = await client.get(f"/v2/notifications/{r.json()['id']}", headers=bearer(key))
            assert got.status_code == 404
            assert got.json()["errors"] == [
                {"error": "NoResultFound", "message": "No result found"}
            ]
        listed = await client.get("/v2/notifications", headers=bearer(key))
    assert listed.json()["notifications"] == []


async def test_trial_daily_limit_and_deleted_template(running_engine: RunningEngine) -> None:
    trial = await service(running_engine, restricted=True)
    sid = trial["service"]["id"]
    async with running_engine.admin() as a:
        r = await a.post(
            f"/admin/services/{sid}/team-members",
            json={"email_address": "me@example.com", "mobile_number": "+16135550123"},
        )
        assert r.status_code == 201, r.text
    key = trial["keys"]["normal"]
    to_me = email(trial, email_address="me@example.com")
    # Trial services may send 50 a day, to team members only.
    async with running_engine.client() as client:
        with trio.fail_after(30):
            sent = [
                await client.post("/v2/notifications/email", json=to_me, headers=bearer(key))
                for _ in range(50)
            ]
    assert {r.status_code for r in sent} == {201}
    over = await _post(running_engine, "/v2/notifications/email", to_me, key)
    # GC's trial error (cds-snc/notification-api app/v2/errors.py), not GOV.UK's wording.
    assert over.json() == {
        "status_code": 429,
        "errors": [
            {
                "error": "TrialServiceTooManyEmailRequestsError",
                "message": "Exceeded email daily sending limit of 50 messages",
            }
        ],
    }
    # Counted per channel, as GC does: the emails leave the SMS day untouched.
    to_my_phone = sms(trial)
    texted = await _post(running_engine, "/v2/notifications/sms", to_my_phone, key)
    assert texted.status_code == 201, texted.text

    s = await service(running_engine)
    await sql.execute(
        running_engine.engine.store,
        "UPDATE templates SET archived = true WHERE id = $1",
        uuid.UUID(s["email_template"]),
    )
    running_engine.engine.service_changed(uuid.UUID(s["service"]["id"]))
    await check(
        running_engine,
        s,
        [
            Case(
                "deleted template",
                "POST",
                "/v2/notifications/email",
                400,
                "BadRequestError",
                "Template {email} has been deleted",
                json=email(s),
            )
        ],
    )

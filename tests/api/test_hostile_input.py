"""Hostile input answered as the client's fault (issue 20, items 1-4 and 10), in process on
the fake store: NUL characters, JSON nested 1,000 deep, integers beyond their column, a
non-ASCII admin token, a 405 without ``Allow``. Each answered a 500 before (or, for the
405, no ``Allow``). The fake store refuses what PostgreSQL refuses (NUL, int32 overflow),
so a check the API forgot still fails here as it would on the real database.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from engine.api import limits
from tests.api.fakes import ADMIN_TOKEN, InProcessApi, Service
from tests.api.test_v2_in_process import bad_request, email, invalid, sms

NUL = "\x00"


def nul_in(field: str) -> dict[str, Any]:
    return invalid(f"{field} contains a character the database cannot store (\\u0000)")


DEEP = bad_request("Error decoding arguments: JSON is nested deeper than 32 levels")


@pytest.fixture
async def api(nursery: trio.Nursery) -> InProcessApi:
    return InProcessApi().start(nursery)


async def test_nul_in_any_body_field_is_a_400(api: InProcessApi) -> None:
    s = api.add_service()
    cases: list[tuple[str, str, Any, dict[str, Any]]] = [
        ("/v2/notifications/email", email(s, personalisation={"name": f"A{NUL}", "code": "1"}),
         nul_in("personalisation")),
        ("/v2/notifications/email", email(s, personalisation={f"na{NUL}me": "A", "code": "1"}),
         nul_in("personalisation")),
        ("/v2/notifications/email", email(s, reference=f"ref{NUL}"), nul_in("reference")),
        ("/v2/notifications/sms", sms(s, personalisation={"code": ["1", {"x": NUL}]}),
         nul_in("personalisation")),
        ("/v2/notifications/bulk",
         {"name": "job", "template_id": str(s.templates["sms"]),
          "rows": [["phone number", "code"], ["+16135550123", f"1{NUL}"]]},
         nul_in("rows")),
        (f"/v2/template/{s.templates['sms']}/preview", {"personalisation": {"code": NUL}},
         nul_in("personalisation")),
    ]  # fmt: skip
    failures = []
    for path, body, wanted in cases:
        got = await api.request("POST", path, json=body, headers=s.bearer())
        if (got.status, got.body) != (400, wanted):
            failures.append(f"{path} {body}: {got.status} {got.body}")
    assert not failures, "\n".join(failures)
    assert api.store.inserted == []


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(api: InProcessApi) -> None:
    s = api.add_service()
    body = email(s, personalisation={"name": "\\u0000", "code": "1"})
    got = await api.request("POST", "/v2/notifications/email", json=body, headers=s.bearer())
    assert got.status == 201, got.body


async def test_nul_in_a_query_argument_is_a_400(api: InProcessApi) -> None:
    s = api.add_service()
    got = await api.request("GET", "/v2/notifications?reference=a%00b", headers=s.bearer())
    assert (got.status, got.body) == (400, nul_in("reference"))
    got = await api.request("GET", "/v2/received-text-messages?older_than=%00", headers=s.bearer())
    assert (got.status, got.body) == (400, nul_in("older_than"))


async def test_nul_in_an_admin_body_is_a_400(api: InProcessApi) -> None:
    got = await api.request(
        "POST",
        "/admin/services",
        json={"name": f"x{NUL}", "email_from": "x"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert (got.status, got.body) == (400, nul_in("name"))


def nested(depth: int) -> bytes:
    return b'{"personalisation": {"name": ' + b"[" * depth + b"]" * depth + b"}}"


async def test_json_nested_1000_deep_is_a_400_on_every_body(
    api: InProcessApi, caplog: pytest.LogCaptureFixture
) -> None:
    s = api.add_service()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    v2 = {**s.bearer(), "Content-Type": "application/json"}
    for method, path, headers in [
        ("POST", "/v2/notifications/email", v2),
        ("POST", "/v2/notifications/sms", v2),
        ("POST", "/v2/notifications/bulk", v2),
        ("POST", f"/v2/template/{s.templates['sms']}/preview", v2),
        ("POST", "/admin/services", admin),
        ("PATCH", f"/admin/services/{s.id}", admin),
        ("POST", "/notifications/receipts/ses", {}),
        ("POST", "/notifications/receipts/sns", {}),
    ]:
        got = await api.request(method, path, content=nested(1000), headers=headers)
        assert (got.status, got.body) == (400, DEEP), (path, got.body)
    assert not [r for r in caplog.records if r.exc_info], "no traceback is logged"


async def test_nesting_up_to_the_limit_is_decoded(api: InProcessApi) -> None:
    s = api.add_service()
    body = b'{"personalisation": {"name": "[[[[{{{{", "code": ' + b"[" * 30 + b"]" * 30 + b"}}"
    assert not limits.nested_deeper_than(body, 32)
    assert limits.nested_deeper_than(nested(31), 32)
    assert not limits.nested_deeper_than(nested(30), 32)
    assert not limits.nested_deeper_than(b"[" * 100, 32), "malformed: the decoder says so"
    got = await api.request(
        "POST", f"/v2/template/{s.templates['sms']}/preview", content=body, headers=s.bearer()
    )
    assert got.status == 200, got.body


async def test_integer_path_parameters_beyond_their_column_are_a_400(api: InProcessApi) -> None:
    s = api.add_service()
    base = f"/v2/template/{s.templates['sms']}/version"
    cases = [
        ("4294967296", invalid("version 4294967296 is greater than the maximum of 2147483647")),
        ("2147483648", invalid("version 2147483648 is greater than the maximum of 2147483647")),
        ("9" * 5000, invalid(f"version {'9' * 5000} is greater than the maximum of 2147483647")),
        ("0", invalid("version 0 is less than the minimum of 1")),
        ("-1", invalid("version -1 is less than the minimum of 1")),
        ("abc", invalid("version abc is not of type integer, null")),
        ("١", invalid("version ١ is not of type integer, null")),
    ]
    for raw, wanted in cases:
        got = await api.request("GET", f"{base}/{raw}", headers=s.bearer())
        assert (got.status, got.body) == (400, wanted), raw[:20]
    got = await api.request("GET", f"{base}/2147483647", headers=s.bearer())
    assert got.status == 404
    got = await api.request("GET", f"{base}/1", headers=s.bearer())
    assert got.status == 200


async def test_a_non_ascii_admin_token_is_refused_not_a_500(api: InProcessApi) -> None:
    for header in [f"Bearer {ADMIN_TOKEN}é", "Bearer ünïcödé", "Bäsic x", f"Bearer {ADMIN_TOKEN}"]:
        got = await api.request("GET", "/admin/services/abc", headers={"Authorization": header})
        if header == f"Bearer {ADMIN_TOKEN}":
            assert got.status == 400, "the right token gets past the check"
        else:
            assert got.status == 403, (header, got.body)
            assert got.body["errors"][0] == {"error": "AuthError", "message": "Invalid admin token"}


async def test_a_405_lists_the_allowed_methods(api: InProcessApi) -> None:
    s: Service = api.add_service()
    # GET /v2/notifications/email is served (by the {notification_id} route: a 400).
    cases = [
        ("PUT", "/v2/notifications/email", "DELETE, GET, POST"),
        ("PATCH", f"/v2/notifications/{s.id}", "DELETE, GET"),
        ("DELETE", "/_status", "GET"),
        ("GET", f"/admin/services/{s.id}/templates/{s.id}", "PUT"),
        ("POST", f"/admin/services/{s.id}", "GET, PATCH"),
    ]
    for method, path, allow in cases:
        got = await api.request(method, path)
        assert got.status == 405, (method, path)
        assert got.body["errors"][0]["error"] == "MethodNotAllowed"
        assert got.headers.get("allow") == allow, (method, path, got.headers)

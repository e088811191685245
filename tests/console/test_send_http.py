"""The console's sending and activity over real sockets (issue 27): a one-off send that
creates exactly the notification a v2 POST of the same input creates, admission's refusals
shown in both languages, a viewer kept from sending, a CSV with a bad row that sends
nothing and its fixed file that sends every row, the job's counts, the activity's search
by reference and by recipient (through the keyed hash), and another service's pages not
found."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import trio

from tests import sql
from tests.api.test_slice import jwt_header
from tests.console.support import ConsoleEngine, Visitor, console_engine
from tests.console.support_send import RecordingReads, upload, upload_id

SENDER = "sender@department.example"
VIEWER = "viewer@department.example"
_SENT = re.compile(r"/console/services/[^/]+/notifications/([0-9a-f-]{36})\?sent=1")
_JOB = re.compile(r"/console/services/[^/]+/jobs/([0-9a-f-]{36})$")
# Every column a send decides (not its id, times, owner, status or provider outcome).
_DECIDED = ("service_id", "template_id", "template_version", "key_type", "notification_type",
            "recipient", "client_reference", "personalisation", "subject", "body",
            "reply_to_text", "process_type", "billable_units", "job_id", "job_row_number",
            "scheduled_for", "unsubscribe_url", "language", "callback_url")  # fmt: skip


@pytest.fixture
async def running(aio_loop: None, database_url: str) -> AsyncIterator[ConsoleEngine]:
    async with console_engine(database_url) as r:
        yield r


async def _member(running: ConsoleEngine, sid: str, email: str, roles: list[str]) -> None:
    await running.set_roles(sid, await running.add_user(email), roles)


async def _rows(running: ConsoleEngine, sid: str) -> list[dict[str, object]]:
    return [dict(r) for r in await sql.opened(
        running.engine.store,
        "SELECT * FROM notifications WHERE service_id = $1 ORDER BY created_at", sid,
    )]  # fmt: skip


async def _send_one_off(v: Visitor, sid: str, tid: str, fields: dict[str, str]) -> str:
    r = await v.post(f"/console/services/{sid}/send/{tid}/check", fields)
    assert r.status_code == 200, r.text
    r = await v.post(f"/console/services/{sid}/send/{tid}", fields)
    assert r.status_code == 303, r.text
    found = _SENT.search(r.headers["location"])
    assert found is not None, r.headers["location"]
    return found[1]


async def test_a_one_off_send_creates_the_notification_the_api_would(
    running: ConsoleEngine,
) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid, tid = made["service"]["id"], made["email_template"]
    await _member(running, sid, SENDER, ["send"])
    async with running.client() as api:
        r = await api.post("/v2/notifications/email", headers=jwt_header(made["keys"]["normal"]),
                           json={"email_address": "Ada@Example.com", "template_id": tid,
                                 "personalisation": {"name": "Ada", "code": "42"}})  # fmt: skip
        assert r.status_code == 201, r.text
    async with Visitor(running) as v:
        await v.sign_in(running, SENDER)
        r = await v.get(f"/console/services/{sid}/send")
        assert r.status_code == 200
        assert f"/console/services/{sid}/send/{tid}" in r.text
        r = await v.get(f"/console/services/{sid}/send/{tid}")
        assert r.status_code == 200
        assert '<label for="value-0">name</label>' in r.text
        assert '<label for="value-1">code</label>' in r.text
        fields = {"recipient": "Ada@Example.com", "value-0": "Ada", "value-1": "42"}
        r = await v.post(f"/console/services/{sid}/send/{tid}/check", fields)
        assert r.status_code == 200, r.text
        assert "Hello Ada" in r.text  # the subject, rendered by the code that sends
        assert "Your code is 42." in r.text
        assert len(await _rows(running, sid)) == 1  # the check writes nothing
        notification_id = await _send_one_off(v, sid, tid, fields)
        r = await v.get(f"/console/services/{sid}/notifications/{notification_id}?sent=1")
        assert r.status_code == 200
        assert "The message was sent." in r.text
        assert "ada@example.com" in r.text.lower()
    api_row, console_row = await _rows(running, sid)
    assert str(console_row["id"]) == notification_id
    assert {k: console_row[k] for k in _DECIDED} == {k: api_row[k] for k in _DECIDED}
    assert console_row["api_key_id"] is None  # sent by a member, not a key
    assert api_row["api_key_id"] is not None


async def test_admission_refusals_are_shown_in_both_languages(running: ConsoleEngine) -> None:
    made = await running.create_service(name="Passport office", restricted=False,
                                        email_daily_limit=1)  # fmt: skip
    sid, tid = made["service"]["id"], made["email_template"]
    trial = await running.create_service(name="Trial office", restricted=True)
    uid = await running.add_user(SENDER)  # a member of both services
    await running.set_roles(sid, uid, ["send"])
    await running.set_roles(trial["service"]["id"], uid, ["send"])
    async with Visitor(running) as v:
        await v.sign_in(running, SENDER)
        check = f"/console/services/{sid}/send/{tid}/check"
        r = await v.post(check, {"recipient": "ada@example.com", "value-0": "Ada", "value-1": ""})
        assert r.status_code == 400
        assert 'class="error-summary"' in r.text
        assert f"Missing personalisation for template ID {tid}: code" in r.text
        r = await v.post(check, {"recipient": "not an address", "value-0": "A", "value-1": "1"})
        assert "email_address Not a valid email address" in r.text
        r = await v.post(check, {"recipient": "a@example.com", "value-0": "A\x00", "value-1": "1"})
        assert r.status_code == 400  # refused as the API refuses it, never sent to PostgreSQL
        assert "personalisation contains a character the database cannot store" in r.text
        await _send_one_off(v, sid, tid, {"recipient": "a@example.com", "value-0": "A",
                                          "value-1": "1"})  # fmt: skip
        r = await v.post(
            f"/console/services/{sid}/send/{tid}",
            {"recipient": "b@example.com", "value-0": "B", "value-1": "2"},
        )
        assert r.status_code == 400
        assert "Exceeded email daily sending limit of 1 messages" in r.text
        tsid, ttid = trial["service"]["id"], trial["email_template"]
        r = await v.post(
            f"/console/services/{tsid}/send/{ttid}/check",
            {"recipient": "stranger@example.com", "value-0": "A", "value-1": "1"},
        )
        assert "when service is in trial mode" in r.text
        await v.get(f"/console/language/fr?next=/console/services/{sid}")
        r = await v.post(check, {"recipient": "ada@example.com", "value-0": "Ada", "value-1": ""})
        assert f"Personnalisation manquante pour le gabarit {tid} : code" in r.text
        assert "Il y a un problème" in r.text
        r = await v.post(
            f"/console/services/{sid}/send/{tid}",
            {"recipient": "b@example.com", "value-0": "B", "value-1": "2"},
        )
        assert "limite" in r.text.lower()
        assert "1" in r.text
    assert len(await _rows(running, sid)) == 1
    assert await _rows(running, trial["service"]["id"]) == []


async def test_a_viewer_cannot_send(running: ConsoleEngine) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid, tid = made["service"]["id"], made["email_template"]
    await _member(running, sid, VIEWER, ["view"])
    async with Visitor(running) as v:
        await v.sign_in(running, VIEWER)
        r = await v.get(f"/console/services/{sid}")
        assert f'href="/console/services/{sid}/send"' not in r.text  # no link either
        assert f'href="/console/services/{sid}/notifications"' in r.text
        for path in (f"/console/services/{sid}/send", f"/console/services/{sid}/send/{tid}"):
            assert (await v.get(path)).status_code == 403
        fields = {"recipient": "a@example.com", "value-0": "A", "value-1": "1"}
        r = await v.post(f"/console/services/{sid}/send/{tid}", fields)
        assert r.status_code == 403
        r = await upload(v, f"/console/services/{sid}/send/{tid}/upload", "a.csv",
                         b"email address,name,code\na@example.com,A,1\n")  # fmt: skip
        assert r.status_code == 403
    assert await _rows(running, sid) == []


async def _job_page(v: Visitor, path: str, want: str) -> str:
    with trio.fail_after(20):
        while True:
            r = await v.get(path)
            assert r.status_code == 200
            if want in r.text:
                return r.text
            await trio.sleep(0.1)


async def test_a_csv_with_a_bad_row_sends_nothing_and_the_fixed_file_sends_every_row(
    running: ConsoleEngine,
) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid, tid = made["service"]["id"], made["email_template"]
    await _member(running, sid, SENDER, ["send"])
    path = f"/console/services/{sid}/send/{tid}/upload"
    bad = b"email address,name,code\na@example.com,A,1\nnot-an-address,B,2\nc@example.com,,3\n"
    fixed = b"email address,name,code\na@example.com,A,1\nb@example.com,B,2\nc@example.com,C,3\n"
    async with Visitor(running) as v:
        await v.sign_in(running, SENDER)
        r = await v.get(path)
        assert r.status_code == 200
        assert 'enctype="multipart/form-data"' in r.text
        r = await upload(v, path, "people.csv", bad)
        assert r.status_code == 400
        assert "2 row(s) have errors" in r.text
        rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>",
                          r.text)  # fmt: skip
        assert rows == [("3", "email address", "Not a valid recipient for this template"),
                        ("4", "name", "Missing: enter a value")]  # fmt: skip
        assert await sql.fetch(running.engine.store, "SELECT id FROM console_uploads") == []
        await v.get(f"/console/language/fr?next={path}")
        r = await upload(v, path, "people.csv", bad)
        assert "Destinataire non valide pour ce gabarit" in r.text
        assert "Manquant : entrez une valeur" in r.text
        await v.get(f"/console/language/en?next={path}")
        assert await _rows(running, sid) == []  # nothing sent while any row is bad

        r = await upload(v, path, "people.csv", fixed)
        assert r.status_code == 303, r.text
        kept = await sql.fetch(
            running.engine.store, "SELECT content, file_name FROM console_uploads"
        )
        assert len(kept) == 1
        assert b"a@example.com" not in bytes(kept[0]["content"])  # sealed at rest
        assert "people" not in kept[0]["file_name"]
        r = await v.get(r.headers["location"])
        assert r.status_code == 200
        assert "Ready to send" in r.text
        assert "3 message(s)" in r.text
        assert await _rows(running, sid) == []  # nothing sent before the confirmation
        send = f"/console/services/{sid}/uploads/{upload_id(r.url.path)}/send"
        r = await v.post(send, {})
        assert r.status_code == 303, r.text
        job = _JOB.search(r.headers["location"])
        assert job is not None
        assert await sql.fetch(running.engine.store, "SELECT id FROM console_uploads") == []
        r = await v.post(send, {})  # a file is sent once
        assert r.status_code == 404
        page = await _job_page(
            v,
            rf"/console/services/{sid}/jobs/{job[1]}",
            '<tr><th scope="row">Delivered</th><td class="num">3</td></tr>',
        )
        assert "people.csv" in page
        assert "Refresh the progress" in page
        assert "http-equiv" not in page  # refreshed by a link, never a meta refresh
    sent = await _rows(running, sid)
    assert sorted(str(r["recipient"]) for r in sent) == [f"{x}@example.com" for x in "abc"]
    assert {str(r["job_id"]) for r in sent} == {job[1]}
    assert all(r["api_key_id"] is None and r["key_type"] == "normal" for r in sent)


async def test_search_by_reference_and_by_recipient_through_the_hash(
    running: ConsoleEngine,
) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid, tid = made["service"]["id"], made["email_template"]
    await _member(running, sid, VIEWER, ["view"])
    async with running.client() as api:
        for to, ref in (("ada@example.com", "file-123"), ("bob@example.com", "file-456")):
            r = await api.post("/v2/notifications/email",
                               headers=jwt_header(made["keys"]["normal"]),
                               json={"email_address": to, "template_id": tid, "reference": ref,
                                     "personalisation": {"name": "A", "code": "1"}})  # fmt: skip
            assert r.status_code == 201, r.text
    store = running.engine.store
    recorder = RecordingReads(store.notifications)
    store.notifications = recorder  # the store object's own attribute: the console reads it
    activity = f"/console/services/{sid}/notifications"
    async with Visitor(running) as v:
        await v.sign_in(running, VIEWER)
        r = await v.get(activity)
        assert "ada@example.com" in r.text
        assert "bob@example.com" in r.text
        r = await v.get(f"{activity}?search=file-123")
        assert "ada@example.com" in r.text
        assert "bob@example.com" not in r.text
        recorder.calls.clear()
        r = await v.get(f"{activity}?search=ADA%40Example.com")
        assert "ada@example.com" in r.text
        assert "bob@example.com" not in r.text
        hashed = [(str(a[0]), a[1].lower()) for n, a in recorder.calls if n == "by_recipient"]
        assert hashed == [(sid, "ada@example.com")]  # found by its keyed hash (any case)
        r = await v.get(f"{activity}?search=ada%40example.com&channel=sms")
        assert "No notifications match." in r.text  # filters apply to a recipient search too
        r = await v.get(f"{activity}?status=failed")
        assert "No notifications match." in r.text
    # The clear address is nowhere in the table to compare against: it is sealed.
    raw = await sql.fetch(store, "SELECT recipient FROM notifications WHERE service_id = $1", sid)
    assert all("ada@example.com" not in r["recipient"] for r in raw)


async def test_activity_shows_delivered_on_reload_and_pages(running: ConsoleEngine) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid, tid = made["service"]["id"], made["email_template"]
    await _member(running, sid, SENDER, ["send"])
    async with Visitor(running) as v:
        await v.sign_in(running, SENDER)
        nid = await _send_one_off(v, sid, tid, {"recipient": "ada@example.com",
                                                "value-0": "Ada", "value-1": "7"})  # fmt: skip
        page = await _job_page(
            v,
            f"/console/services/{sid}/notifications/{nid}",
            '<dd class="status-delivered">Delivered</dd>',
        )
        assert "Your code is 7." in page
        await v.get(f"/console/language/fr?next=/console/services/{sid}")
        r = await v.get(f"/console/services/{sid}/notifications")
        assert '<td class="status-delivered">Livré</td>' in r.text


async def test_another_services_notification_and_job_are_not_found(
    running: ConsoleEngine,
) -> None:
    mine = await running.create_service(name="Passport office", restricted=False)
    theirs = await running.create_service(name="Other office", restricted=False)
    sid = mine["service"]["id"]
    await _member(running, sid, VIEWER, ["view"])
    async with running.client() as api:
        r = await api.post("/v2/notifications/email", headers=jwt_header(theirs["keys"]["normal"]),
                           json={"email_address": "x@example.com",
                                 "template_id": theirs["email_template"],
                                 "personalisation": {"name": "A", "code": "1"}})  # fmt: skip
        other_id = r.json()["id"]
        r = await api.post("/v2/notifications/bulk", headers=jwt_header(theirs["keys"]["normal"]),
                           json={"name": "x.csv", "template_id": theirs["email_template"],
                                 "rows": [["email address", "name", "code"],
                                          ["x@example.com", "A", "1"]]})  # fmt: skip
        other_job = r.json()["data"]["id"]
        r = await api.post("/v2/notifications/email", headers=jwt_header(mine["keys"]["normal"]),
                           json={"email_address": "me@example.com",
                                 "template_id": mine["email_template"],
                                 "personalisation": {"name": "A", "code": "1"}})  # fmt: skip
        my_id = r.json()["id"]
    async with Visitor(running) as v:
        await v.sign_in(running, VIEWER)
        r = await v.get(f"/console/services/{sid}/notifications/{my_id}")
        assert r.status_code == 200  # its own service's notification is shown
        assert "me@example.com" in r.text
        for path in (
            f"/console/services/{sid}/notifications/{other_id}",
            f"/console/services/{sid}/jobs/{other_job}",
            f"/console/services/{theirs['service']['id']}/notifications/{other_id}",
        ):
            r = await v.get(path)
            assert r.status_code == 404, path
            assert "x@example.com" not in r.text


async def test_the_activity_is_paged_newest_first(running: ConsoleEngine) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid = made["service"]["id"]
    await _member(running, sid, VIEWER, ["view"])
    rows = [["email address", "name", "code"]] + [[f"p{i}@example.com", "P", str(i)]
                                                  for i in range(55)]  # fmt: skip
    async with running.client() as api:
        r = await api.post("/v2/notifications/bulk", headers=jwt_header(made["keys"]["normal"]),
                           json={"name": "many.csv", "template_id": made["email_template"],
                                 "rows": rows})  # fmt: skip
        assert r.status_code == 201, r.text
        r = await api.post("/v2/notifications/email", headers=jwt_header(made["keys"]["test"]),
                           json={"email_address": "testkey@example.com",
                                 "template_id": made["email_template"],
                                 "personalisation": {"name": "T", "code": "0"}})  # fmt: skip
        assert r.status_code == 201, r.text
    link = re.compile(r'href="(/console/services/[^"]+older_than=[^"]+)">Older notifications')
    async with Visitor(running) as v:
        await v.sign_in(running, VIEWER)
        first = await v.get(f"/console/services/{sid}/notifications")
        shown = re.findall(r">(p\d+@example\.com)</a>", first.text)
        assert len(shown) == 50
        assert "testkey@example.com" not in first.text  # a test key's send is not activity
        older = link.search(first.text)
        assert older is not None
        second = await v.get(older[1].replace("&amp;", "&"))
        rest = re.findall(r">(p\d+@example\.com)</a>", second.text)
        assert len(rest) == 5
        assert sorted(shown + rest) == sorted(f"p{i}@example.com" for i in range(55))
        assert link.search(second.text) is None
        assert "Newest notifications" in second.text


async def test_only_the_upload_takes_a_large_body_and_it_needs_its_csrf_token(
    running: ConsoleEngine,
) -> None:
    made = await running.create_service(name="Passport office", restricted=False)
    sid, tid = made["service"]["id"], made["email_template"]
    await _member(running, sid, SENDER, ["send"])
    big = b"email address,name,code\n" + b"".join(
        f"person{i}@example.com,Name {i},{i}\n".encode() for i in range(2_000)
    )
    assert len(big) > 64 * 1024  # over the console's MAX_BODY
    path = f"/console/services/{sid}/send/{tid}/upload"
    async with Visitor(running) as v:
        await v.sign_in(running, SENDER)
        r = await v.post(
            f"/console/services/{sid}/send/{tid}/check",
            {"recipient": "a@example.com", "value-0": "x" * 70_000, "value-1": "1"},
        )
        assert r.status_code == 413  # every other form stays under 64 KB
        token, v.csrf = v.csrf, "not-the-token"
        r = await upload(v, path, "people.csv", big)
        assert r.status_code == 403  # CSRF is checked on a multipart form too
        assert await sql.fetch(running.engine.store, "SELECT id FROM console_uploads") == []
        v.csrf = token
        r = await upload(v, path, "people.csv", big)
        assert r.status_code == 303, r.text
        r = await v.get(r.headers["location"])
        assert "2,000 message(s)" in r.text

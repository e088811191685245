"""GC Notify's /v2/reports through plain HTTP (issue 24): the official Python client
(13.0.0 in .venv) has no call for it.

Expectations follow GC's code (notification-api ``app/v2/reports``, ``app/report/utils.py``,
August 2026); where it differs from GC's documentation or we differ from it, the test
says so:
- the 429's body: GC's code answers ``{"errors": [...]}`` without ``status_code``; we
  answer Notify's envelope (the documentation shows only the error and message).
- ``completed_at``: GC's column defaults to the request time and is never updated; we set
  it when the report is ready, as the documentation's example shows.
- Sent Time: GC's code writes America/Toronto for every service; we use the service's
  time zone (a deployment with NOTIFY_DEFAULT_TIME_ZONE=America/Toronto writes GC's).
- an email ``permanent-failure``: GC's report table omits it (the raw status is printed);
  we write "No such address" / "Adresse inexistante", GC's words for it elsewhere.
- a job report: GC's code filters it by notification type "job", which no notification
  has; we list the job's rows, as the documentation describes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import trio

from engine.actors import report_maker
from engine.store.store import Store
from tests import sql
from tests.api.test_admin import error_of
from tests.api.test_bulk import email_rows, post_bulk, wait_all_delivered
from tests.api.test_manage_templates import key_with
from tests.api.test_slice import jwt_header, wait_for_status
from tests.conftest import RunningEngine

NO_PERMISSION = "This API key does not have permission to manage reports."


async def _send(client: httpx2.AsyncClient, made: dict[str, Any], address: str) -> str:
    r = await client.post(
        "/v2/notifications/email",
        json={"email_address": address, "template_id": made["email_template"],
              "personalisation": {"name": "Ada", "code": "1"}},
        headers=jwt_header(made["keys"]["normal"]),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def wait_ready(client: httpx2.AsyncClient, headers: dict[str, str], rid: str) -> Any:
    with trio.fail_after(20):
        while True:
            r = await client.get(f"/v2/reports/{rid}", headers=headers)
            assert r.status_code == 200, r.text
            if r.json()["status"] in ("ready", "error"):
                return r.json()
            await trio.sleep(0.05)


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_email_report_in_both_languages_in_the_service_zone(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    store = running_engine.engine.store
    async with running_engine.admin() as admin:
        r = await admin.patch(f"/admin/services/{sid}", json={"time_zone": "America/Toronto"})
        assert r.status_code == 200, r.text
        r = await admin.post(
            f"/admin/services/{sid}/data-retention",
            json={"notification_type": "email", "days_of_retention": 3},
        )
        assert r.status_code == 200, r.text  # fmt: skip
    headers = jwt_header(await key_with(running_engine, sid, "manage_reports"))
    async with running_engine.client() as client:
        ids = [await _send(client, made, f"p{i}@example.com") for i in range(4)]
        for nid in ids:
            await wait_for_status(running_engine, made["keys"]["normal"], nid, "delivered")
        sms = await client.post(
            "/v2/notifications/sms",
            json={"phone_number": "+16135550123", "template_id": made["sms_template"],
                  "personalisation": {"code": "1"}},
            headers=jwt_header(made["keys"]["normal"]),
        )  # fmt: skip
        assert sms.status_code == 201, sms.text
        # A known instant (shown in Toronto's time), one refused by a suppression list,
        # one past the service's 3-day retention (inside GC's 7 days): not reported.
        instant = dt.datetime.now(dt.UTC).replace(hour=16, minute=5, second=0, microsecond=0)
        await sql.execute(store, "UPDATE notifications SET created_at = $2 WHERE id = $1",
                          uuid.UUID(ids[0]), instant - dt.timedelta(days=1))  # fmt: skip
        await sql.execute(
            store, "UPDATE notifications SET status = 'provider-failure',"
            " feedback_subtype = 'suppressed' WHERE id = $1", uuid.UUID(ids[1]),
        )  # fmt: skip
        await sql.execute(
            store, "UPDATE notifications SET created_at = now() - interval '4 days'"
            " WHERE id = $1", uuid.UUID(ids[2]),
        )  # fmt: skip
        await sql.execute(
            store, "UPDATE notifications SET status = 'permanent-failure' WHERE id = $1",
            uuid.UUID(ids[3]),
        )  # fmt: skip

        r = await client.post("/v2/reports", json={"report_type": "email", "language": "en"},
                              headers=headers)  # fmt: skip
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "requested"
        rid = r.json()["report_id"]
        assert r.headers["location"] == f"/v2/reports/{rid}"
        ready = await wait_ready(client, headers, rid)
        assert ready["status"] == "ready"
        assert set(ready) == {"id", "report_type", "service_id", "status", "requested_at",
                              "completed_at", "expires_at", "api_key_id"}  # fmt: skip
        assert ready["completed_at"] is not None
        requested = dt.datetime.fromisoformat(ready["requested_at"])
        expires = dt.datetime.fromisoformat(ready["expires_at"])
        assert dt.timedelta(days=3) <= expires - requested < dt.timedelta(days=3, minutes=1)

        r = await client.get(f"/v2/reports/{rid}/content", headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/csv"
        assert r.headers["content-disposition"] == f'attachment; filename="{rid}.csv"'
        rows = parse(r.text)
        assert rows[0] == ["Recipient", "Template", "Type", "Sent by", "Sent by email", "Job",
                           "Status", "Sent Time"]  # fmt: skip
        by_recipient = {row[0]: row for row in rows[1:]}
        assert set(by_recipient) == {"p0@example.com", "p1@example.com", "p3@example.com"}
        local = (instant - dt.timedelta(days=1)).astimezone(ZoneInfo("America/Toronto"))
        assert by_recipient["p0@example.com"] == [
            "p0@example.com", "email", "email", "", "", "", "Delivered",
            local.strftime("%Y-%m-%d %H:%M:%S"),
        ]  # fmt: skip
        assert by_recipient["p1@example.com"][6] == "Blocked"
        assert by_recipient["p3@example.com"][6] == "No such address"
        assert [row[0] for row in rows[1:]][-1] == "p0@example.com"  # newest first

        # The chunks are sealed at rest: no recipient in the clear.
        stored = await sql.fetch(store, "SELECT content FROM report_chunks")
        assert stored
        assert all(b"example.com" not in bytes(c["content"]) for c in stored)

        r = await client.post("/v2/reports", json={"report_type": "email", "language": "fr"},
                              headers=headers)  # fmt: skip
        rid_fr = r.json()["report_id"]
        await wait_ready(client, headers, rid_fr)
        rows = parse((await client.get(f"/v2/reports/{rid_fr}/content", headers=headers)).text)
        assert rows[0] == ["Destinataire", "Gabarit", "Type", "Envoyé par",
                           "Envoyé par courriel", "Tâche", "État", "Heure d’envoi"]  # fmt: skip
        french = {row[0]: row for row in rows[1:]}
        assert french["p0@example.com"][2] == "courriel"
        assert french["p0@example.com"][6] == "Livraison réussie"
        assert french["p1@example.com"][6] == "Message bloqué"
        assert french["p3@example.com"][6] == "Adresse inexistante"

        listed = (await client.get("/v2/reports", headers=headers)).json()
        assert [x["id"] for x in listed["reports"]] == [rid_fr, rid]
        base = running_engine.base_url + "/v2/reports"
        assert listed["links"] == {"current": base, "next": f"{base}?older_than={rid}"}
        older = (await client.get(f"/v2/reports?older_than={rid_fr}", headers=headers)).json()
        assert [x["id"] for x in older["reports"]] == [rid]


async def test_job_report_lists_the_rows_in_order_a_page_at_a_time(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    r = await post_bulk(running_engine, made["keys"]["normal"], {
        "name": "march.csv", "template_id": made["email_template"], "rows": email_rows(5),
    })  # fmt: skip
    assert r.status_code == 201, r.text
    job_id = r.json()["data"]["id"]
    await wait_all_delivered(running_engine, job_id, 5)  # statuses settled: reports compare
    headers = jwt_header(await key_with(running_engine, sid, "manage_reports"))
    engine = running_engine.engine
    async with running_engine.client() as client:
        r = await client.post("/v2/reports", json={"report_type": "job", "language": "en",
                                                   "job_id": job_id}, headers=headers)  # fmt: skip
        assert r.status_code == 202, r.text
        rid = r.json()["report_id"]
        await wait_ready(client, headers, rid)
        rows = parse((await client.get(f"/v2/reports/{rid}/content", headers=headers)).text)
        assert rows[0] == ["Row number", "Recipient", "Template", "Type", "Job", "Status",
                           "Sent Time"]  # fmt: skip
        assert [row[:2] for row in rows[1:]] == [
            [str(i + 1), f"person{i}@example.com"] for i in range(5)
        ]
        assert {row[4] for row in rows[1:]} == {"march.csv"}

        # The same report, made again two rows a page (and a new attempt): the same CSV.
        await sql.execute(engine.store, "UPDATE reports SET status = 'requested'")
        await report_maker.make(engine.store.reports, engine.store.retention, engine.registry,
                                uuid.UUID(rid), page=2)  # fmt: skip
        again = parse((await client.get(f"/v2/reports/{rid}/content", headers=headers)).text)
        assert again == rows
        chunks = await sql.fetch(engine.store, "SELECT attempt, seq FROM report_chunks")
        assert sorted((c["attempt"], c["seq"]) for c in chunks) == [(2, 0), (2, 1), (2, 2)]

        # An email report two rows a page: every row once, newest first.
        r = await client.post("/v2/reports", json={"report_type": "email", "language": "en"},
                              headers=headers)  # fmt: skip
        rid = r.json()["report_id"]
        await wait_ready(client, headers, rid)
        await sql.execute(engine.store, "UPDATE reports SET status = 'requested' WHERE id = $1",
                          uuid.UUID(rid))  # fmt: skip
        await report_maker.make(engine.store.reports, engine.store.retention, engine.registry,
                                uuid.UUID(rid), page=2)  # fmt: skip
        rows = parse((await client.get(f"/v2/reports/{rid}/content", headers=headers)).text)
        assert sorted(row[0] for row in rows[1:]) == [f"person{i}@example.com" for i in range(5)]
        times = [row[7] for row in rows[1:]]
        assert times == sorted(times, reverse=True)


async def test_permissions_validation_and_gc_errors(running_engine: RunningEngine) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    templates_only = await key_with(running_engine, sid, "manage_templates")
    headers = jwt_header(await key_with(running_engine, sid, "manage_reports", key_type="team"))
    async with running_engine.client() as client:
        for key in (made["keys"]["normal"], templates_only):
            for call in (
                client.post("/v2/reports", json={}, headers=jwt_header(key)),
                client.get("/v2/reports", headers=jwt_header(key)),
                client.get(f"/v2/reports/{uuid.uuid4()}", headers=jwt_header(key)),
                client.get(f"/v2/reports/{uuid.uuid4()}/content", headers=jwt_header(key)),
            ):
                r = await call
                assert r.status_code == 403, r.text
                assert r.json()["errors"] == [{"error": "ForbiddenError", "message": NO_PERMISSION}]
        r = await client.get("/v2/reports", headers={**jwt_header(templates_only),
                                                     "Accept-Language": "fr"})  # fmt: skip
        assert error_of(r, 403) == ["Cette clé d'API n'a pas la permission de gérer les rapports."]

        r = await client.post("/v2/reports", json={"report_type": "invalid", "language": "de",
                                                   "extra": 1}, headers=headers)  # fmt: skip
        assert sorted(error_of(r, 400)) == sorted([
            "Additional properties are not allowed (extra was unexpected)",
            "report_type invalid is not one of [sms, email, job]",
            "language de is not one of [en, fr]",
        ])  # fmt: skip
        r = await client.post("/v2/reports", json={"report_type": "job", "language": "en"},
                              headers=headers)  # fmt: skip
        assert error_of(r, 400) == ["job_id is a required property"]
        r = await client.post("/v2/reports", json={"report_type": "job", "language": "en",
                                                   "job_id": str(uuid.uuid4())},
                              headers=headers)  # fmt: skip
        assert error_of(r, 404) == ["No result found"]
        r = await client.get("/v2/reports?older_than=x&size=2", headers=headers)
        assert sorted(error_of(r, 400)) == sorted([
            "Additional properties are not allowed (size was unexpected)",
            "older_than is not a valid UUID",
        ])  # fmt: skip
        r = await client.get("/v2/reports/x", headers=headers)
        assert error_of(r, 400) == ["report_id is not a valid UUID"]
        r = await client.get("/v2/reports/x/content", headers=headers)
        assert error_of(r, 404) == ["The requested URL was not found on the server."]

        # Not ready: 409 with GC's words; another service's report: 404.
        rid = uuid.uuid4()
        await sql.execute(
            running_engine.engine.store,
            "INSERT INTO reports (id, service_id, report_type, language, status, lease_until)"
            " VALUES ($1, $2, 'email', 'en', 'generating', now() + interval '1 hour')",
            rid, uuid.UUID(sid),
        )  # fmt: skip
        r = await client.get(f"/v2/reports/{rid}/content", headers=headers)
        assert error_of(r, 409) == ["Report is not ready for download (status: generating)"]
        other = await running_engine.create_service()
        other_headers = jwt_header(
            await key_with(running_engine, other["service"]["id"], "manage_reports")
        )
        for path in (f"/v2/reports/{rid}", f"/v2/reports/{rid}/content"):
            r = await client.get(path, headers=other_headers)
            assert error_of(r, 404) == ["No result found"]
        assert (await client.get("/v2/reports", headers=other_headers)).json()["reports"] == []


async def test_a_report_whose_process_died_is_made_by_the_next_get(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    headers = jwt_header(await key_with(running_engine, sid, "manage_reports"))
    store = running_engine.engine.store
    rid = uuid.uuid4()
    # Claimed by a process that died: attempt 1, its lease over, one chunk written.
    await sql.execute(
        store,
        "INSERT INTO reports (id, service_id, report_type, language, status, attempt,"
        " lease_until) VALUES ($1, $2, 'sms', 'en', 'generating', 1, now() - interval '1 s')",
        rid, uuid.UUID(sid),
    )  # fmt: skip
    await sql.execute(store, "INSERT INTO report_chunks VALUES ($1, 1, 0, 'stale')", rid)
    async with running_engine.client() as client:
        ready = await wait_ready(client, headers, str(rid))
        assert ready["status"] == "ready"
        r = await client.get(f"/v2/reports/{rid}/content", headers=headers)
        assert parse(r.text) == [["Recipient", "Template", "Type", "Sent by", "Sent by email",
                                  "Job", "Status", "Sent Time"]]  # fmt: skip
    # The dead attempt's chunk is gone; it can write nothing more, nor make it ready.
    chunks = await sql.fetch(store, "SELECT attempt FROM report_chunks WHERE report_id = $1", rid)
    assert {c["attempt"] for c in chunks} == {2}
    assert await store.reports.write_chunk(rid, 1, 5, b"late", lease_s=60) is False
    assert await store.reports.finish(rid, 1, rows=0, keep_days=3) is False


async def test_ten_requests_an_hour_counted_across_processes(
    running_engine: RunningEngine, database_url: str
) -> None:
    made = await running_engine.create_service()
    sid = made["service"]["id"]
    headers = jwt_header(await key_with(running_engine, sid, "manage_reports"))
    body = {"report_type": "sms", "language": "en"}
    async with (
        running_engine.client() as client,
        Store.open(database_url, pool_size=4) as other,  # another process's store
    ):
        granted: list[bool] = []

        async def by_http() -> None:
            r = await client.post("/v2/reports", json=body, headers=headers)
            assert r.status_code in (202, 429), r.text
            granted.append(r.status_code == 202)

        async def by_other() -> None:
            ok, _, _ = await other.reports.admit_request(uuid.UUID(sid), limit=10, window_s=3600)
            granted.append(ok)

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for i in range(14):
                    nursery.start_soon(by_http if i % 2 else by_other)
        assert granted.count(True) == 10
        r = await client.post("/v2/reports", json=body, headers=headers)
        assert r.status_code == 429, r.text
        assert r.json() == {
            "status_code": 429,
            "errors": [
                {"error": "RateLimitExceeded", "message": "Maximum 10 report requests per hour"}
            ],
        }
        assert r.headers["x-ratelimit-limit"] == "10"
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert 3500 < int(r.headers["retry-after"]) <= 3600
        assert int(r.headers["x-ratelimit-reset"]) > int(dt.datetime.now(dt.UTC).timestamp())
        # An hour later the window has room again.
        await sql.execute(
            running_engine.engine.store,
            "UPDATE report_requests SET times = ARRAY(SELECT t - interval '61 minutes'"
            " FROM unnest(times) t)",
        )
        r = await client.post("/v2/reports", json=body, headers=headers)
        assert r.status_code == 202, r.text
        # The French of the 429.
        other_service = await running_engine.create_service()
        fr_headers = jwt_header(
            await key_with(running_engine, other_service["service"]["id"], "manage_reports")
        )
        await sql.execute(
            running_engine.engine.store,
            "INSERT INTO report_requests (service_id, times, granted) VALUES"
            " ($1, array_fill(now(), ARRAY[10]), true)",
            uuid.UUID(other_service["service"]["id"]),
        )
        r = await client.post("/v2/reports", json=body,
                              headers={**fr_headers, "Accept-Language": "fr"})  # fmt: skip
        assert error_of(r, 429) == ["Maximum de 10 demandes de rapport par heure"]
        assert r.headers["retry-after"]

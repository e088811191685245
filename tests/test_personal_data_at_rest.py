"""Personal data at rest, as a reviewer with ``psql`` checks it: after a send of every kind
(an email with personalisation, an SMS, an email with an attached file, a bulk job, a
callback owed, a team member), no column of any table holds a recipient, a
personalisation value, a body fragment or the file's content in clear; the API still
reads them back; and neither the logs nor /metrics carry them. The keyed hashes stored for
lookups (migration 0022) are no plain digest a reviewer could recompute (SHA-256 of the
address), and the team check works through them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

import pytest
import trio

from tests import sql
from tests.api.test_reports import wait_ready
from tests.conftest import RunningEngine

EMAIL = "zephyrine.quoddy@example.com"
PHONE = "+16135550177"
NAME = "Zephyrine"
CODE = "QX7731CASE"
FILE = b"%PDF-1.4 the medical file of Zephyrine Quoddy, case 99-ALPHA-0042"
MEMBER_EMAIL = "wilhelmina.teamperson@example.gc.ca"
BULK_EMAIL = "bartholomew.bulkrow@example.com"
JOB_FILE = "zephyrine-case-list.csv"
VISIBLE = "ref-visible-4431"  # a client reference: kept clear, the search's own control
NEEDLES = {
    "recipient": EMAIL,
    "phone": PHONE.lstrip("+"),
    "personalisation": NAME,
    "body": f"Your code is {CODE}",
    "code": CODE,
    "file": "99-ALPHA-0042",
    "file name": "zephyrine-medical",
    "team member": MEMBER_EMAIL,
    "bulk recipient": BULK_EMAIL,
    "job file": JOB_FILE,
}


@pytest.fixture
def running_engine(scanning_engine: RunningEngine) -> RunningEngine:
    """Files are sent only where they are virus scanned (issue 25)."""
    return scanning_engine


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey-v1 {key}"}


async def find_in_every_column(store: Any, needle: str | bytes) -> list[str]:
    """``table.column`` of every column that holds ``needle``: text (any type cast to
    text) or bytes (bytea searched as bytes). A bytes needle is searched as bytes in bytea
    columns and as lower-case hex in the others."""
    columns = await sql.fetch(
        store,
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'",
    )
    found = []
    for c in columns:
        table, column = c["table_name"], c["column_name"]
        if c["data_type"] == "bytea":
            condition = f'position($1::bytea IN "{column}") > 0'
            arg: object = needle if isinstance(needle, bytes) else needle.encode()
        else:
            condition = f'strpos(lower("{column}"::text), $1) > 0'
            arg = needle.hex() if isinstance(needle, bytes) else needle.lower()
        row = await sql.fetchrow(store, f'SELECT count(*) FROM "{table}" WHERE {condition}', arg)
        if row[0]:
            found.append(f"{table}.{column}")
    return found


async def test_no_column_of_any_table_holds_personal_data_in_clear(
    running_engine: RunningEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup = await running_engine.create_service()
    sid, key = setup["service"]["id"], setup["keys"]["normal"]
    store = running_engine.engine.store
    with socket_closed() as closed_port:
        callback_url = f"http://127.0.0.1:{closed_port}/callback"
    async with running_engine.admin() as admin:
        r = await admin.post(f"/admin/services/{sid}/team-members",
                             json={"email_address": MEMBER_EMAIL})  # fmt: skip
        assert r.status_code == 201, r.text
        r = await admin.put(f"/admin/services/{sid}/callback",
                            json={"url": callback_url, "bearer_token": "b" * 20})  # fmt: skip
        assert r.status_code == 200, r.text
    attach = {"file": base64.b64encode(FILE).decode(), "filename": "zephyrine-medical.pdf",
              "sending_method": "attach"}  # fmt: skip
    async with running_engine.client(headers=auth(key)) as client:
        email = await client.post("/v2/notifications/email", json={
            "email_address": EMAIL, "template_id": setup["email_template"],
            "personalisation": {"name": NAME, "code": CODE}, "reference": VISIBLE,
        })  # fmt: skip
        sms = await client.post("/v2/notifications/sms", json={
            "phone_number": PHONE, "template_id": setup["sms_template"],
            "personalisation": {"code": CODE},
        })  # fmt: skip
        filed = await client.post("/v2/notifications/email", json={
            "email_address": EMAIL, "template_id": setup["email_template"],
            "personalisation": {"name": NAME, "code": attach},
        })  # fmt: skip
        bulk = await client.post("/v2/notifications/bulk", json={
            "name": JOB_FILE, "template_id": setup["email_template"],
            "rows": [["email address", "name", "code"], [BULK_EMAIL, NAME, CODE]],
        })  # fmt: skip
        for r in (email, sms, filed, bulk):
            assert r.status_code == 201, r.text
    # The team check compares keyed hashes: the member (in any case) passes a team key,
    # anyone else does not.
    async with running_engine.client(headers=auth(setup["keys"]["team"])) as team_client:
        for to, expected in ((MEMBER_EMAIL.upper(), 201), (EMAIL, 400)):
            r = await team_client.post("/v2/notifications/email", json={
                "email_address": to, "template_id": setup["email_template"],
                "personalisation": {"name": "team", "code": "team"},
            })  # fmt: skip
            assert r.status_code == expected, r.text
    async with running_engine.client(headers=auth(key)) as client:
        ids = [r.json()["id"] for r in (email, sms, filed)]
        # Every one delivered, and its delivery callback owed (the endpoint is down).
        with trio.fail_after(30):
            while True:
                got = [(await client.get(f"/v2/notifications/{i}")).json() for i in ids]
                owed = await sql.fetch(store, "SELECT notification_id FROM callback_queue")
                if all(g["status"] == "delivered" for g in got) and len(owed) >= 3:
                    break
                await trio.sleep(0.1)
        # The API reads everything back in clear.
        assert [g["email_address"] or g["phone_number"] for g in got] == [EMAIL, PHONE, EMAIL]
        assert f"Your code is {CODE}" in got[0]["body"]
        assert got[0]["subject"] == f"Hello {NAME}"
        listed = (await client.get("/v2/notifications?include_jobs=true")).json()
        assert BULK_EMAIL in {n["email_address"] for n in listed["notifications"]}
        # Reports (issue 24) hold recipients and job file names: sealed, read back in clear.
        async with running_engine.admin() as admin:
            made = await admin.post(
                f"/admin/services/{sid}/api-keys",
                json={"name": "reports", "permissions": ["manage_reports"]},
            )
        reports_auth = auth(made.json()["key"])  # fmt: skip
        for kind in ("email", "sms"):
            r = await client.post("/v2/reports", json={"report_type": kind, "language": "en"},
                                  headers=reports_auth)  # fmt: skip
            assert r.status_code == 202, r.text
            rid = r.json()["report_id"]
            assert (await wait_ready(client, reports_auth, rid))["status"] == "ready"
            csv_text = (await client.get(f"/v2/reports/{rid}/content", headers=reports_auth)).text
            assert (
                (EMAIL in csv_text and JOB_FILE in csv_text)
                if kind == "email"
                else (PHONE in csv_text)
            )
        metrics = (await client.get("/metrics")).text
    for what, needle in NEEDLES.items():
        assert await find_in_every_column(store, needle) == [], what
    # Nor any plain digest of a recipient (whole or cut as the stored hashes are).
    for value in (EMAIL, PHONE, MEMBER_EMAIL, BULK_EMAIL):
        for digest in (
            hashlib.sha256(value.encode()).digest(),
            hashlib.md5(value.encode()).digest(),
        ):
            assert await find_in_every_column(store, digest[:16]) == [], value
    # The hashes are there (so the search above covered them): one per notification.
    hashed = await sql.fetchrow(store, "SELECT count(*), count(recipient_hash) FROM notifications")
    assert hashed[0] >= 5
    assert hashed[0] == hashed[1]
    # The search finds what is kept clear (so an empty answer above means something).
    assert "notifications.client_reference" in await find_in_every_column(store, VISIBLE)
    for what, needle in NEEDLES.items():
        assert needle not in caplog.text, what
        assert needle not in metrics, what


class socket_closed:
    """A loopback port nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port: int = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc: object) -> None:
        return None

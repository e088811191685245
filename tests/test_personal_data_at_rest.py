"""Personal data at rest, as a reviewer with ``psql`` checks it: after a send of every kind
(an email with personalisation, an SMS, an email with an attached file, a bulk job, a
callback owed, a team member), no column of any table holds a recipient, a
personalisation value, a body fragment or the file's content in clear; the API still
reads them back; and neither the logs nor /metrics carry them.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
import trio

from tests import sql
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


async def find_in_every_column(store: Any, needle: str) -> list[str]:
    """``table.column`` of every column that holds ``needle``: text (any type cast to
    text) or bytes (bytea searched as bytes)."""
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
            arg: object = needle.encode()
        else:
            condition = f'strpos("{column}"::text, $1) > 0'
            arg = needle
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
        metrics = (await client.get("/metrics")).text
    for what, needle in NEEDLES.items():
        assert await find_in_every_column(store, needle) == [], what
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

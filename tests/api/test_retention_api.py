"""Retention through the admin API, and what a client sees once a notification is purged:
GET answers 404 (as GC does) while the service's usage still counts it."""

from __future__ import annotations

import datetime as dt

import trio

from tests import sql
from tests.api.test_admin import error_of
from tests.api.test_slice import jwt_header, wait_for_status
from tests.conftest import RunningEngine


async def test_retention_is_set_per_channel_within_3_to_90_days(
    running_engine: RunningEngine,
) -> None:
    sid = (await running_engine.create_service())["service"]["id"]
    path = f"/admin/services/{sid}/data-retention"
    async with running_engine.admin() as admin:
        r = await admin.get(path)
        assert r.status_code == 200, r.text
        assert r.json()["data_retention"] == [
            {"notification_type": "email", "days_of_retention": 7},
            {"notification_type": "sms", "days_of_retention": 7},
        ]
        r = await admin.post(path, json={"notification_type": "sms", "days_of_retention": 30})
        assert r.status_code == 200, r.text
        assert {"notification_type": "sms", "days_of_retention": 30} in r.json()["data_retention"]
        for days in (2, 91):
            r = await admin.post(
                path, json={"notification_type": "email", "days_of_retention": days}
            )
            assert error_of(r, 400) == [f"days_of_retention must be between 3 and 90, not {days}"]
        r = await admin.post(path, json={"notification_type": "letter", "days_of_retention": 7})
        assert r.status_code == 400, r.text
        assert (await admin.get(path)).json()["data_retention"][0]["days_of_retention"] == 7


async def test_a_purged_notification_is_404_and_still_counted_in_usage(
    running_engine: RunningEngine,
) -> None:
    made = await running_engine.create_service()
    sid, key = made["service"]["id"], made["keys"]["normal"]
    async with running_engine.client() as client:
        with trio.fail_after(20):
            r = await client.post(
                "/v2/notifications/email",
                json={
                    "email_address": "someone@example.com",
                    "template_id": made["email_template"],
                    "personalisation": {"name": "Ada", "code": "1"},
                },
                headers=jwt_header(key),
            )
        assert r.status_code == 201, r.text
        nid = r.json()["id"]
        await wait_for_status(running_engine, key, nid, "delivered")  # final: usage is stable
        store = running_engine.engine.store
        await sql.execute(
            store,
            "UPDATE notifications SET created_at = created_at - interval '9 days' WHERE id = $1",
            nid,
        )
        today = dt.datetime.now(dt.UTC).date()
        week = {"start_date": (today - dt.timedelta(days=12)).isoformat()}
        async with running_engine.admin() as admin:
            usage = (await admin.get(f"/admin/services/{sid}/usage", params=week)).json()["usage"]
        assert sum(u["notifications"] for u in usage) == 1

        assert await store.retention.purge_expired() == 1
        r = await client.get(f"/v2/notifications/{nid}", headers=jwt_header(key))
        assert error_of(r, 404) == ["No result found"]
        async with running_engine.admin() as admin:
            after = (await admin.get(f"/admin/services/{sid}/usage", params=week)).json()["usage"]
        assert after == usage

"""Logs and metrics carry no personal data, checked on a real engine process as an operator
would see them: its whole stderr (the JSON log lines, every ``extra=`` field included, at
DEBUG) and its ``/metrics`` listener, after an email and an SMS with distinctive
recipients and personalisation are sent and delivered, a team member is added, and a team
key is refused for a stranger. (The in-process check in ``test_personal_data_at_rest``
reads ``caplog.text``, which shows each record's message but not its ``extra=`` fields.)
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import httpx2
import pytest
import trio

from engine.store.store import Store
from tests.conftest import ADMIN_TOKEN
from tests.processes import engine_process, free_port

pytestmark = pytest.mark.slow

EMAIL = "Quillon.Marchetti-Vey@example.com"
PHONE = "+16135550163"
NAME = "Quillonette"
CODE = "ZK40981CASE"
MEMBER = "ophelia.teamcontact@example.gc.ca"
MEMBER_PHONE = "+16135550164"
STRANGER = "barnaby.outsider@example.com"
NEEDLES = [EMAIL, EMAIL.lower(), PHONE.lstrip("+"), "613-555-0163", NAME, CODE,
           f"Code {CODE}", MEMBER, MEMBER_PHONE.lstrip("+"), STRANGER]  # fmt: skip


async def test_logs_and_metrics_of_a_real_engine_hold_no_personal_data(
    store: Store, database_url: str
) -> None:
    metrics_port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {"NOTIFY_LOG_LEVEL": "DEBUG", "NOTIFY_METRICS_PORT": str(metrics_port)}
        async with engine_process(database_url, folder, **env) as (_, url):
            metrics = await send_everything(url, metrics_port)
        port = url.rsplit(":", 1)[1]
        logs = await trio.Path(os.path.join(folder, f"engine-{port}.log")).read_text()
    # The captures are real: the log has the engine's events, /metrics its counters.
    assert '"level":"debug"' in logs or '"level":"info"' in logs
    assert "notify_notifications_created_total" in metrics
    for needle in NEEDLES:
        assert needle.lower() not in logs.lower(), needle
        assert needle.lower() not in metrics.lower(), needle


async def send_everything(url: str, metrics_port: int) -> str:
    """The sends (delivered) and refusals; returns the /metrics text after them."""
    admin_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx2.AsyncClient(base_url=url, timeout=10, headers=admin_headers) as admin:
        service = (await admin.post("/admin/services", json={
            "name": "Logs check", "email_from": "logs.check", "restricted": False,
        })).json()  # fmt: skip
        sid = service["id"]
        email_t = (await admin.post(f"/admin/services/{sid}/templates", json={
            "name": "e", "type": "email", "subject": "Hi ((name))", "content": "Code ((code))",
        })).json()["id"]  # fmt: skip
        sms_t = (await admin.post(f"/admin/services/{sid}/templates", json={
            "name": "s", "type": "sms", "content": "Code ((code))",
        })).json()["id"]  # fmt: skip
        keys = {}
        for key_type in ("normal", "team"):
            r = await admin.post(f"/admin/services/{sid}/api-keys",
                                 json={"name": key_type, "key_type": key_type})  # fmt: skip
            keys[key_type] = r.json()["key"]
        member = {"email_address": MEMBER, "mobile_number": MEMBER_PHONE}
        r = await admin.post(f"/admin/services/{sid}/team-members", json=member)
        assert r.status_code == 201, r.text
    values: dict[str, Any] = {"name": NAME, "code": CODE}
    async with httpx2.AsyncClient(base_url=url, timeout=10) as client:
        normal = {"Authorization": f"ApiKey-v1 {keys['normal']}"}
        sent = [
            await client.post("/v2/notifications/email", headers=normal, json={
                "email_address": EMAIL, "template_id": email_t, "personalisation": values,
            }),
            await client.post("/v2/notifications/sms", headers=normal, json={
                "phone_number": "613-555-0163", "template_id": sms_t, "personalisation": values,
            }),
        ]  # fmt: skip
        for r in sent:
            assert r.status_code == 201, r.text
        team = {"Authorization": f"ApiKey-v1 {keys['team']}"}
        refused = await client.post("/v2/notifications/email", headers=team, json={
            "email_address": STRANGER, "template_id": email_t, "personalisation": values,
        })  # fmt: skip
        assert refused.status_code == 400, refused.text
        with trio.fail_after(30):
            for r in sent:
                while True:
                    got = (await client.get(f"/v2/notifications/{r.json()['id']}",
                                            headers=normal)).json()  # fmt: skip
                    if got["status"] in ("delivered", "sent"):
                        break
                    await trio.sleep(0.1)
        return (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text

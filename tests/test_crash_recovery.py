"""SIGKILL while thousands of notifications are in flight loses none of them.

The engine runs as a real process (``python -m engine serve``) against the test database.
Clients send emails over many connections; the engine is killed with SIGKILL mid-stream;
a new engine process starts on the same database. Every notification that got a 201 must
reach ``delivered``; notifications resent because the crash hit them during the provider
call are counted by the engine and bounded by what can be in flight at once.
"""

from __future__ import annotations

import signal
import tempfile
from typing import Any

import httpx2
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from engine.store.store import Store
from tests import sql
from tests.processes import engine_process, setup_email_service

pytestmark = pytest.mark.slow

RECOVERY_ENV = {
    "NOTIFY_SIMULATED_LATENCY_MS": "5",
    "NOTIFY_SIMULATED_RECEIPT_DELAY_MS": "300",
    "NOTIFY_RECOVERY_SWEEP_SECONDS": "0.5",
    "NOTIFY_RECOVERY_DEAD_AFTER_SECONDS": "2",
}
# The provider actor's bounds: at most this many messages can be inside provider calls.
IN_FLIGHT_BOUND = 8 * 50


async def _send_until_killed(
    url: str, template_id: str, key: str, process: Any, kill_after: int
) -> set[str]:
    acknowledged: set[str] = set()
    headers = {"Authorization": f"ApiKey-v1 {key}"}

    async def sender(worker: int) -> None:
        async with httpx2.AsyncClient(base_url=url, headers=headers, timeout=5) as client:
            for i in range(1000):  # bounded; the kill ends it much sooner
                try:
                    r = await client.post("/v2/notifications/email", json={
                        "email_address": f"user{worker}.{i}@example.com",
                        "template_id": template_id, "personalisation": {"name": "A", "code": i},
                    })  # fmt: skip
                except httpx2.TransportError:
                    return  # the engine is gone; this request was never acknowledged
                assert r.status_code == 201, r.text
                acknowledged.add(r.json()["id"])
                if len(acknowledged) >= kill_after and process.returncode is None:
                    process.kill()  # SIGKILL: no drain, no shutdown code runs

    async with trio.open_nursery() as nursery:
        for worker in range(16):
            nursery.start_soon(sender, worker)
    return acknowledged


async def test_sigkill_loses_no_acknowledged_notification(store: Store, database_url: str) -> None:
    with tempfile.TemporaryDirectory() as folder, trio.fail_after(150):
        async with engine_process(database_url, folder, **RECOVERY_ENV) as (process, url):
            template_id, key = await setup_email_service(url)
            acknowledged = await _send_until_killed(url, template_id, key, process, 3000)
            await process.wait()
        assert process.returncode == -signal.SIGKILL
        assert len(acknowledged) >= 3000
        unfinished = await sql.fetchrow(
            store, "SELECT count(*) FILTER (WHERE status <> 'delivered') AS n FROM notifications"
        )
        assert unfinished["n"] > 0, "the kill should catch notifications mid-flight"

        async with engine_process(database_url, folder, **RECOVERY_ENV) as (_, url):
            rows: list[Any] = []
            for _ in range(600):
                rows = await sql.fetch(
                    store,
                    "SELECT id::text, status FROM notifications WHERE id = ANY($1::uuid[])",
                    list(acknowledged),
                )
                if len(rows) == len(acknowledged) and all(r["status"] == "delivered" for r in rows):
                    break
                await trio.sleep(0.1)
            async with httpx2.AsyncClient(base_url=url) as client:
                metrics = (await client.get("/metrics")).text

    assert {r["id"] for r in rows} == acknowledged, "an acknowledged notification was lost"
    stuck = [r for r in rows if r["status"] != "delivered"]
    assert not stuck, f"{len(stuck)} notifications never reached delivered: {stuck[:3]}"
    resent = sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "notify_recovery_requeued"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("status") == "sending"
    )
    assert resent <= IN_FLIGHT_BOUND, f"{resent} resent: more than could have been in flight"

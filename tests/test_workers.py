"""NOTIFY_WORKERS: several engine processes share the API port, each scraped on its own."""

from __future__ import annotations

import signal
import tempfile

import httpx2
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from engine.store.store import Store
from tests import sql
from tests.processes import engine_process, free_ports, setup_email_service, wait_ready

pytestmark = pytest.mark.slow


def _created(metrics: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "notify_notifications_created"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def test_two_workers_share_the_port_and_each_exposes_its_metrics(
    store: Store, database_url: str
) -> None:
    metrics_port = free_ports(2)
    with tempfile.TemporaryDirectory() as folder, trio.fail_after(120):
        env = {"NOTIFY_WORKERS": "2", "NOTIFY_METRICS_PORT": str(metrics_port)}
        async with engine_process(database_url, folder, **env) as (parent, url):
            for index in range(2):
                await wait_ready(f"http://127.0.0.1:{metrics_port + index}", parent, "/_status")
            template_id, key = await setup_email_service(url)
            ids = []
            for i in range(60):  # a new connection each time: the kernel spreads them
                async with httpx2.AsyncClient(base_url=url, timeout=10) as client:
                    r = await client.post(
                        "/v2/notifications/email",
                        headers={"Authorization": f"ApiKey-v1 {key}"},
                        json={"email_address": f"u{i}@example.com", "template_id": template_id,
                              "personalisation": {"name": "A", "code": i}},
                    )  # fmt: skip
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            per_process = []
            async with httpx2.AsyncClient(timeout=5) as client:
                for index in range(2):
                    m = await client.get(f"http://127.0.0.1:{metrics_port + index}/metrics")
                    per_process.append(_created(m.text))
            for _ in range(100):
                rows = await sql.fetch(
                    store, "SELECT status FROM notifications WHERE id::text = ANY($1::text[])", ids
                )
                if len(rows) == 60 and all(r["status"] == "delivered" for r in rows):
                    break
                await trio.sleep(0.1)
            parent.send_signal(signal.SIGTERM)
            await parent.wait()
    assert sum(per_process) == 60, per_process
    assert all(n > 0 for n in per_process), f"one process got no request: {per_process}"
    assert [r["status"] for r in rows] == ["delivered"] * 60
    assert parent.returncode == 0

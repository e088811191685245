"""Health and metrics endpoints over real HTTP.

- ``GET /_status``: liveness; answers without the database (proved by holding every pool
  connection while asking).
- ``GET /_status/ready``: 200 when the database answers and the actors run; 503 naming
  the problem otherwise.
- ``GET /metrics``: Prometheus text exposition, including ``notify_api_requests_total``
  labelled by route template, method and status.
"""

from __future__ import annotations

from typing import Any

import trio
from prometheus_client.parser import text_string_to_metric_families

from tests import sql
from tests.conftest import RunningEngine


async def _hold_every_connection(pool: Any) -> list[Any]:
    return [await pool.acquire() for _ in range(pool.get_max_size())]


async def _release(pool: Any, connections: list[Any]) -> None:
    for connection in connections:
        await pool.release(connection)


async def test_status_needs_no_database_and_ready_reports_it(
    running_engine: RunningEngine,
) -> None:
    pipe = sql.pipe(running_engine.engine.store)
    pool = pipe.pool
    async with running_engine.client() as client:
        with trio.fail_after(30):
            ready = await client.get("/_status/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ok"}
            held = await pipe.db.call(_hold_every_connection, pool)
            try:
                with trio.fail_after(5):  # a DB query would wait for a connection forever
                    live = await client.get("/_status")
                assert live.status_code == 200
                assert live.json() == {"status": "ok"}
                assert live.headers["content-type"].startswith("application/json")
                not_ready = await client.get("/_status/ready")
                assert not_ready.status_code == 503, not_ready.text
                assert not_ready.json() == {
                    "status": "error",
                    "problems": ["database unreachable"],
                }
            finally:
                with trio.CancelScope(shield=True):
                    await pipe.db.call(_release, pool, held)
            again = await client.get("/_status/ready")
            assert again.status_code == 200, again.text


async def test_metrics_is_prometheus_text_with_request_counts(
    running_engine: RunningEngine,
) -> None:
    async with running_engine.client() as client:
        with trio.fail_after(30):
            for _ in range(3):
                assert (await client.get("/_status")).status_code == 200
            assert (await client.get("/no/such/page")).status_code == 404
            r = await client.get("/metrics")
    assert r.status_code == 200
    # The text format (0.0.4, or 1.0.0 in newer prometheus-client), not OpenMetrics.
    assert r.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE notify_api_requests_total counter" in r.text
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    requests = families["notify_api_requests"]
    assert requests.type == "counter"
    counts = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in requests.samples
        if s.name == "notify_api_requests_total"
    }
    assert counts[("/_status", "GET", "200")] >= 3
    # Unknown paths share one label value, so a scanner cannot blow up the series count.
    assert counts[("unmatched", "GET", "404")] >= 1
    assert not any("/no/such/page" in route for route, _, _ in counts)
    assert "notify_api_request_duration_seconds" in families

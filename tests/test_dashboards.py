"""Dashboards and rules are checked against a real engine and a real Prometheus.

A short load runs through a live engine (API, store, actors, simulated providers,
callbacks to a loopback receiver); Prometheus scrapes it every second and evaluates every
expression used by the Grafana dashboards and the rule files through its HTTP API.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from engine.http1.server import serve
from tests.conftest import RunningEngine

DASHBOARDS = Path(__file__).parent.parent / "dashboards"
RULE_FILES = sorted((DASHBOARDS / "rules").glob("*.yml"))
# Labels that name a bounded set of things; anything else could grow without bound.
BOUNDED_LABELS = {
    "route", "method", "status", "notification_type", "key_type", "lane", "provider",
    "outcome", "reason", "actor", "kind", "callback_type", "source", "le", "quantile",
    "generation",
}  # fmt: skip
_METRIC = re.compile(r"\b((?:notify|process)_[a-z_]+)\b")


def dashboard_expressions() -> list[str]:
    exprs = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            exprs.extend(t["expr"] for t in panel["targets"])
    return exprs


def rules() -> list[dict[str, Any]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(group["rules"])
    return found


def base_name(metric: str) -> str:
    return re.sub(r"_(bucket|sum|count|total|created)$", "", metric)


async def _receiver(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _load(engine: RunningEngine, seconds: float) -> None:
    """Sends emails and SMS (and one bad request) for ``seconds``; bounded in count too."""
    setup = await engine.create_service(restricted=False)
    sid = setup["service"]["id"]
    async with trio.open_nursery() as nursery:
        callback_stop = trio.Event()
        callback_port = await nursery.start(
            partial(serve, _receiver, host="127.0.0.1", port=0, shutdown=callback_stop)
        )
        async with engine.admin() as admin:
            response = await admin.put(
                f"/admin/services/{sid}/callback",
                json={"url": f"http://127.0.0.1:{callback_port}/cb", "bearer_token": "x" * 32},
            )
            assert response.status_code in (200, 201), response.text
        headers = {"Authorization": f"ApiKey-v1 {setup['keys']['normal']}"}
        deadline = trio.current_time() + seconds
        async with engine.client(headers=headers) as client:
            for i in range(400):
                if trio.current_time() > deadline:
                    break
                r = await client.post("/v2/notifications/email", json={
                    "email_address": f"user{i}@example.com", "template_id": setup["email_template"],
                    "personalisation": {"name": "Ada", "code": i},
                })  # fmt: skip
                assert r.status_code == 201, r.text
                r = await client.post("/v2/notifications/sms", json={
                    "phone_number": "+16135550123", "template_id": setup["sms_template"],
                    "personalisation": {"code": i},
                })  # fmt: skip
                assert r.status_code == 201, r.text
                bad = await client.post("/v2/notifications/email", json={"template_id": "x"})
                assert bad.status_code == 400
                await trio.sleep(0.05)
        await trio.sleep(0.5)  # receipts and callbacks catch up
        callback_stop.set()


async def test_every_dashboard_metric_exists_and_labels_are_bounded(
    running_engine: RunningEngine,
) -> None:
    with trio.fail_after(60):
        await _load(running_engine, seconds=2)
        async with running_engine.client() as client:
            text = (await client.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    exposed = {base_name(name) for name in families}
    named = {base_name(m) for e in dashboard_expressions() for m in _METRIC.findall(e)}
    named |= {base_name(m) for r in rules() for m in _METRIC.findall(r["expr"])}
    assert named, "the dashboards name no metric"
    missing = sorted(named - exposed)
    assert not missing, f"dashboards use metrics the engine does not expose: {missing}"
    for family in families.values():
        if not family.name.startswith("notify_"):
            continue
        values: dict[str, set[str]] = {}
        for sample in family.samples:
            for label, value in sample.labels.items():
                values.setdefault(label, set()).add(value)
        assert set(values) <= BOUNDED_LABELS, f"{family.name} has unbounded labels {values}"
        for label, seen in values.items():
            assert len(seen) < 60, f"{family.name}{{{label}}} has {len(seen)} values"


def test_promtool_accepts_the_rule_files() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (scripts/test installs Debian's prometheus)")
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _prometheus(target_port: int) -> AsyncIterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (scripts/test installs Debian's prometheus)")
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in RULE_FILES],
            "scrape_configs": [{"job_name": "notify-engine",
                                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}],
        }))  # fmt: skip
        process = await trio.lowlevel.open_process(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={folder}/data",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            async with httpx2.AsyncClient(timeout=2) as client:
                for _ in range(100):
                    try:
                        if (await client.get(f"{url}/-/ready")).status_code == 200:
                            break
                    except httpx2.TransportError:
                        pass
                    await trio.sleep(0.1)
            yield url
        finally:
            process.terminate()
            with trio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()


async def test_prometheus_evaluates_every_dashboard_and_rule_expression(
    running_engine: RunningEngine,
) -> None:
    with trio.fail_after(90):
        async with _prometheus(running_engine.port) as url:
            await _load(running_engine, seconds=6)
            await trio.sleep(3)  # two more scrapes and rule evaluations
            recorded = [r["record"] for r in rules() if "record" in r]
            alerts = [r["expr"] for r in rules() if "alert" in r]
            async with httpx2.AsyncClient(base_url=url, timeout=5) as client:
                for expr in [*dashboard_expressions(), *recorded, *alerts]:
                    body = (await client.get("/api/v1/query", params={"query": expr})).json()
                    assert body["status"] == "success", (expr, body)
                    if expr not in alerts:  # an alert that is not firing has no data
                        assert body["data"]["result"], f"no data for {expr}"
                targets = (await client.get("/api/v1/targets")).json()["data"]["activeTargets"]
                assert [t["health"] for t in targets] == ["up"]

"""NOTIFY_WORKERS: several engine processes share the API port, each scraped on its own;
the death of any of them, or of their parent, ends the whole set (real processes, Linux
/proc to find the workers, every wait bounded, nothing left running)."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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


def _workers_of(parent_pid: int) -> dict[int, int]:
    """{worker index: pid} of the parent's children (Linux /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except (OSError, ValueError):
            continue  # not a process, or one that is gone
        if int(stat.rsplit(")", 1)[1].split()[1]) != parent_pid:
            continue
        for variable in environ:
            if variable.startswith(b"NOTIFY_WORKER_INDEX="):
                children[int(variable.split(b"=", 1)[1])] = int(entry)
    return children


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


async def _all_gone(pids: list[int], seconds: float) -> bool:
    for _ in range(int(seconds * 10)):
        if not any(_running(pid) for pid in pids):
            return True
        await trio.sleep(0.1)
    return False


@asynccontextmanager
async def _two_workers(database_url: str) -> AsyncIterator[tuple[Any, dict[int, int]]]:
    """A NOTIFY_WORKERS=2 engine with both workers serving; SIGKILL leftovers at the end."""
    metrics_port = free_ports(2)
    workers: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        env = {"NOTIFY_WORKERS": "2", "NOTIFY_METRICS_PORT": str(metrics_port)}
        try:
            async with engine_process(database_url, folder, **env) as (parent, _):
                for index in range(2):
                    await wait_ready(f"http://127.0.0.1:{metrics_port + index}", parent, "/_status")
                workers = _workers_of(parent.pid)
                assert sorted(workers) == [0, 1], workers
                yield parent, workers
        finally:
            for pid in workers.values():
                if _running(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("killed", [0, 1])
async def test_a_killed_worker_stops_the_set(store: Store, database_url: str, killed: int) -> None:
    with trio.fail_after(120):
        async with _two_workers(database_url) as (parent, workers):
            os.kill(workers[killed], signal.SIGKILL)
            with trio.move_on_after(10):
                await parent.wait()
            assert parent.returncode is not None, f"worker {killed} died unnoticed"
            assert parent.returncode != 0
            assert await _all_gone(list(workers.values()), 5), "a worker outlived the set"


async def test_a_killed_parent_ends_its_workers(store: Store, database_url: str) -> None:
    with trio.fail_after(120):
        async with _two_workers(database_url) as (parent, workers):
            parent.kill()
            await parent.wait()
            assert await _all_gone(list(workers.values()), 10), "workers serve on as orphans"

"""``bench/engine.py --workers N``: the send path in N engine processes at once, as
``NOTIFY_WORKERS=N`` runs the engine (one process per core; the ServiceActors of a service
live in one process).

The parent makes one scratch database and starts N children of ``bench/engine.py``, each
with its own share of the services and notifications, the shared SES simulator and the
shared database. Every child inserts its rows (untimed) and says ``ready``; when all have,
the parent says ``go`` to all, and each times its own push. The combined figure is every
notification over the span from the first start to the last finish, so a slow worker
counts against it.
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio
import trio_asyncio

from bench.store_inserts import _drop, _scratch, server_dsn
from engine.store.store import Store

ENGINE_BENCH = Path(__file__).resolve().parent / "engine.py"
READY_TIMEOUT_S = 600.0


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal whole shares (the first ones larger)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One JSON line for N workers' lines: sums, weighted means, the overall span."""
    count = sum(r["count"] for r in results)
    start = min(r["span"][0] for r in results)
    end = max(r["span"][1] for r in results)
    calls = sum(r["provider_calls"] for r in results)
    commits = sum(r["status_commits"] for r in results)

    def weighted(key: str, by: str, total: float) -> float:
        return sum(r[key] * r[by] for r in results) / max(total, 1)

    return {
        "provider": results[0]["provider"],
        "workers": len(results),
        "count": count,
        "services": sum(r["services"] for r in results),
        "seconds": round(end - start, 3),
        "notifications_per_s": round(count / (end - start)),
        "cpu_us_per_notification": round(weighted("cpu_us_per_notification", "count", count), 1),
        "provider_calls": calls,
        "mean_batch": round(weighted("mean_batch", "provider_calls", calls), 1),
        "status_commits": commits,
        "mean_commit_ms": round(weighted("mean_commit_ms", "status_commits", commits), 2),
        "rss_mb_peak": max(r["rss_mb_peak"] for r in results),  # per process
        "rows_with_reference": sum(r["rows_with_reference"] for r in results),
        "rows_sending": sum(r["rows_sending"] for r in results),
        "store": results[0]["store"],
        "per_worker": [
            {k: r[k] for k in ("count", "notifications_per_s", "cpu_us_per_notification")}
            for r in results
        ],
    }


async def _prepare(base: str) -> str:
    async with trio_asyncio.open_loop():
        dsn = await _scratch(base)
        async with Store.open(dsn) as store:
            await store.migrate()
    return dsn


async def _cleanup(base: str, dsn: str) -> None:
    async with trio_asyncio.open_loop():
        await _drop(base, dsn)


def _child_args(
    args: argparse.Namespace, dsn: str, port: int | None, count: int, services: int
) -> list[str]:
    argv = [
        sys.executable, str(ENGINE_BENCH), "--worker-dsn", dsn, "--count", str(count),
        "--services", str(services), "--concurrency", str(args.concurrency),
        "--provider", args.provider, "--store", args.store, "--gc-young", str(args.gc_young),
    ]  # fmt: skip
    if port is not None:
        argv += ["--ses-port", str(port)]
    if args.param_validation:
        argv.append("--param-validation")
    return argv


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
    if not ready:
        raise TimeoutError("a worker did not answer in time")
    return proc.stdout.readline().strip()


def run_workers(args: argparse.Namespace, port: int | None) -> dict[str, Any]:
    if args.provider == "both":
        raise SystemExit("--workers needs one --provider (ses or simulated)")
    if args.services < args.workers:
        raise SystemExit("--workers needs at least one service per worker")
    base = server_dsn()
    dsn = trio.run(_prepare, base)
    children: list[subprocess.Popen[str]] = []
    try:
        counts, services = shares(args.count, args.workers), shares(args.services, args.workers)
        for count, svc in zip(counts, services, strict=True):
            children.append(
                subprocess.Popen(
                    _child_args(args, dsn, port, count, svc),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        for child in children:
            if (line := _read_line(child, deadline)) != "ready":
                raise RuntimeError(f"a worker said {line!r} instead of ready")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=max(deadline - time.monotonic(), 1.0))
            if child.returncode != 0:
                raise RuntimeError(f"a worker failed (exit {child.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
        return combine(results)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(5)
        trio.run(_cleanup, base, dsn)

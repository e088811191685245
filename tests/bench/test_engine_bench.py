"""``bench/engine.py --workers``: several engine processes measured as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.engine_workers import combine, shares

ROOT = Path(__file__).resolve().parents[2]


def _worker(count: int, start: float, end: float, cpu_us: float) -> dict[str, object]:
    return {
        "provider": "ses-email", "count": count, "services": 2, "span": [start, end],
        "notifications_per_s": round(count / (end - start)), "cpu_us_per_notification": cpu_us,
        "provider_calls": count // 50, "mean_batch": 50.0, "status_commits": 10,
        "mean_commit_ms": 20.0, "rss_mb_peak": 90.0, "rows_with_reference": count,
        "rows_sending": count, "store": "postgresql",
    }  # fmt: skip


def test_shares_split_the_work_whole_and_complete() -> None:
    assert shares(100_001, 2) == [50_001, 50_000]
    assert shares(4, 3) == [2, 1, 1]


def test_the_combined_rate_runs_from_the_first_start_to_the_last_finish() -> None:
    fast, slow = _worker(50_000, 100.0, 105.0, 100.0), _worker(50_000, 100.5, 110.0, 140.0)
    report = combine([fast, slow])
    # Not 10,000 + 5,263: the slow worker's late finish counts against the whole run.
    assert report["seconds"] == 10.0
    assert report["notifications_per_s"] == 10_000
    assert report["cpu_us_per_notification"] == 120.0
    assert report["rows_with_reference"] == 100_000


def test_two_worker_processes_send_every_notification_once(database_url: str) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine.py"), "--provider", "simulated",
         "--count", "3000", "--services", "2", "--workers", "2"],
        env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True,
        timeout=240, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert (report["workers"], report["count"]) == (2, 3000)
    assert [w["count"] for w in report["per_worker"]] == [1500, 1500]
    # Every row got its provider reference, none was left behind in `created`.
    assert report["rows_with_reference"] == 3000
    assert report["notifications_per_s"] > 0

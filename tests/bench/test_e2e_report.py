"""The end-to-end benchmark's report: targets missed and by how much, the profile summary,
and the throughput plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.e2e import missed, profile_summary
from bench.plot import plot_timeline


def _result(**overrides: Any) -> dict[str, Any]:
    base = {"mode": "single", "requested": 1_000_000, "notifications": 1_000_000,
            "notifications_per_s": 1500.0, "api_p99_ms": 20.0, "peak_rss_mb": 300.0,
            "lost": 0}  # fmt: skip
    return {**base, **overrides}


def test_a_run_meeting_every_target_reports_nothing_missed() -> None:
    assert missed(_result(), full=True) == {}


def test_missed_targets_say_by_how_much() -> None:
    report = missed(_result(notifications_per_s=555.5, lost=3), full=True)
    assert report["notifications_per_s"] == "555.5 vs target 1111 (50% short)"
    assert report["lost"].startswith("3 notifications")
    paced = missed(_result(api_p99_ms=75.0), full=True, rate=1000)
    assert paced["api_p99_ms"] == "75.0 vs target 50 (50% over)"


def test_a_paced_run_is_not_judged_on_throughput_its_rate_caps() -> None:
    paced = _result(requested=30_000, notifications=30_000, notifications_per_s=965.7)
    assert missed(paced, full=False, rate=1000) == {}
    assert set(missed(paced, full=False)) == {"notifications_per_s", "note"}


def test_the_latency_target_applies_at_1000_requests_per_s_not_to_a_closed_loop() -> None:
    saturated = _result(api_p99_ms=105.0)
    assert missed(saturated, full=True) == {}  # closed loop: p99 is CPU queueing
    assert missed(saturated, full=True, rate=5000) == {}
    assert set(missed(saturated, full=True, rate=1000)) == {"api_p99_ms"}
    assert missed(_result(api_p99_ms=30.0), full=True, rate=1000) == {}


def test_bulk_runs_are_judged_on_the_bulk_targets() -> None:
    result = _result(mode="bulk", bulk_accept_s=3.0, bulk_delivered_s=12.0)
    del result["api_p99_ms"]
    report = missed(result, full=False)
    assert set(report) == {"bulk_accept_s"}


def test_a_short_run_notes_the_throughput_target_is_for_the_full_run() -> None:
    report = missed(_result(requested=20_000, notifications=19_990), full=False)
    assert "note" in report
    assert report["accepted"] == "19990 of 20000 accepted"


def test_profile_summary_ranks_functions_by_self_time(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (engine/cli.py:10);post (httpx2/_client.py:5) 30\n"
        "main (engine/cli.py:10);post (httpx2/_client.py:7) 30\n"
        "main (engine/cli.py:10);render (engine/domain/templates.py:3) 40\n"
    )
    assert profile_summary(raw) == [
        "60.0% post (httpx2/_client.py)",
        "40.0% render (engine/domain/templates.py)",
    ]


def test_the_timeline_plot_is_a_png(tmp_path: Path) -> None:
    timeline = {"title": "t", "series": {"accepted": {"0": 5, "1": 7}, "callbacks": {"1": 3}}}
    out = plot_timeline(timeline, tmp_path / "sub" / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

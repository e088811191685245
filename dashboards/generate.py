"""Builds the Grafana dashboards in this folder from the panel lists below.

Run ``python dashboards/generate.py`` after editing; commit the JSON it writes. The JSON
files are what Grafana imports and what ``tests/test_dashboards.py`` checks (every
expression is evaluated by a real Prometheus scraping a running engine).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
DS = {"type": "prometheus", "uid": "${datasource}"}


def p99(metric: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.99, sum by ({group}) (rate({metric}_bucket[5m])))"


def p50(metric: str, by: str = "") -> str:
    return p99(metric, by).replace("0.99", "0.5", 1)


# (title, unit, [(expression, legend)])
OVERVIEW = [
    ("Accepted notifications per second", "ops", [
        ("sum by (notification_type) (rate(notify_notifications_created_total[5m]))",
         "{{notification_type}}"),
    ]),
    ("Status transitions per second", "ops", [
        ("sum by (status) (rate(notify_notification_status_transitions_total[5m]))",
         "{{status}}"),
    ]),
    ("API requests per second by status", "reqps", [
        ("sum by (status) (rate(notify_api_requests_total[5m]))", "{{status}}"),
    ]),
    ("API error ratio (5xx)", "percentunit", [("notify:api_error_ratio:rate5m", "5xx ratio")]),
    ("API latency", "s", [
        (p50("notify_api_request_duration_seconds"), "p50"),
        (p99("notify_api_request_duration_seconds"), "p99"),
    ]),
    ("Created to sent (p99) by channel", "s", [
        (p99("notify_created_to_sent_seconds", "notification_type"), "{{notification_type}}"),
    ]),
    ("Created to delivered (p99) by channel", "s", [
        (p99("notify_created_to_delivered_seconds", "notification_type"),
         "{{notification_type}}"),
    ]),
    ("Sent within 10 s (SLO 99%)", "percentunit", [
        ("notify:created_to_sent_within_10s:ratio_rate5m", "5m"),
        ("notify:created_to_sent_within_10s:ratio_rate1h", "1h"),
    ]),
    ("Admission rejections per second", "ops", [
        ("sum by (reason) (rate(notify_admission_rejections_total[5m])) or vector(0)",
         "{{reason}}"),
    ]),
    ("Mailbox saturation by actor kind", "percentunit", [
        ("max by (actor) (notify_mailbox_depth / notify_mailbox_capacity)", "{{actor}}"),
    ]),
    ("Store rows written per second", "ops", [
        ("sum by (kind) (rate(notify_store_rows_total[5m]))", "{{kind}}"),
    ]),
    ("Store commit latency (p99)", "s", [
        (p99("notify_store_commit_duration_seconds", "kind"), "{{kind}}"),
    ]),
    ("Event-loop lag (p99)", "s", [(p99("notify_event_loop_lag_seconds"), "lag")]),
    ("Garbage-collector pauses (p99)", "s", [
        (p99("notify_gc_pause_seconds", "generation"), "gen {{generation}} p99"),
    ]),
    ("Process CPU (cores)", "none", [("rate(process_cpu_seconds_total[5m])", "{{instance}}")]),
    ("Process memory (RSS)", "bytes", [("process_resident_memory_bytes", "{{instance}}")]),
    ("Open HTTP connections", "none", [("notify_http_open_connections", "{{instance}}")]),
]  # fmt: skip

PROVIDERS = [
    ("Provider calls per second by outcome", "ops", [
        ("sum by (provider, outcome) (rate(notify_provider_calls_total[5m]))",
         "{{provider}} {{outcome}}"),
    ]),
    ("Messages per provider call (mean)", "none", [
        ("sum by (provider) (rate(notify_provider_batch_size_sum[5m]))"
         " / sum by (provider) (rate(notify_provider_batch_size_count[5m]))", "{{provider}}"),
    ]),
    ("Provider call latency (p99)", "s", [
        (p99("notify_provider_call_duration_seconds", "provider"), "{{provider}}"),
    ]),
    ("Retries per second by reason", "ops", [
        ("sum by (provider, reason) (rate(notify_provider_retries_total[5m])) or vector(0)",
         "{{provider}} {{reason}}"),
    ]),
    ("Circuit breaker open", "none", [
        ("max by (provider) (notify_provider_breaker_open)", "{{provider}}"),
    ]),
    ("Failovers per second", "ops", [
        ("sum by (provider) (rate(notify_provider_failovers_total[5m])) or vector(0)",
         "{{provider}}"),
    ]),
    ("Receipt messages per second by source and outcome", "ops", [
        ("sum by (source, outcome) (rate(notify_receipt_messages_total[5m])) or vector(0)",
         "{{source}} {{outcome}}"),
    ]),
    ("Recovery: re-enqueued per second", "ops", [
        ("sum by (status) (rate(notify_recovery_requeued_total[5m])) or vector(0)",
         "{{status}}"),
        ("sum(rate(notify_recovery_sweeps_total[5m]))", "sweeps"),
    ]),
]  # fmt: skip

CALLBACKS = [
    ("Callbacks per second by outcome", "ops", [
        ("sum by (callback_type, outcome) (rate(notify_callbacks_total[5m]))",
         "{{callback_type}} {{outcome}}"),
    ]),
    ("Callback latency", "s", [
        (p50("notify_callback_duration_seconds"), "p50"),
        (p99("notify_callback_duration_seconds"), "p99"),
    ]),
    ("Callback retries per second by reason", "ops", [
        ("sum by (callback_type, reason) (rate(notify_callback_retries_total[5m])) or vector(0)",
         "{{callback_type}} {{reason}}"),
    ]),
    ("Callbacks waiting", "none", [("sum(notify_callback_queue_depth)", "queued")]),
    ("Services with callbacks suspended", "none", [
        ("max(notify_callback_suspended_services)", "suspended"),
    ]),
]  # fmt: skip


def dashboard(uid: str, title: str, panels: list[tuple[str, str, list[tuple[str, str]]]]) -> dict:
    built = []
    for i, (panel_title, unit, targets) in enumerate(panels):
        built.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": panel_title,
                "datasource": DS,
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(65 + j), "datasource": DS, "expr": expr, "legendFormat": legend}
                    for j, (expr, legend) in enumerate(targets)
                ],
            }
        )
    return {
        "uid": uid,
        "title": title,
        "tags": ["notify-engine"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": built,
    }


def main() -> None:
    for name, uid, title, panels in (
        ("overview", "notify-overview", "notify-engine: overview (on-call)", OVERVIEW),
        ("providers", "notify-providers", "notify-engine: providers", PROVIDERS),
        ("callbacks", "notify-callbacks", "notify-engine: callbacks", CALLBACKS),
    ):
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(dashboard(uid, title, panels), indent=2) + "\n")


if __name__ == "__main__":
    main()

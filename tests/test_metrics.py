"""engine.metrics.labelled: the series a hot path counts into is the metric's own, kept."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Histogram

from engine.metrics import labelled

_COUNTS = Counter("test_labelled_total", "labelled's test", ["kind", "outcome"])
_TIMES = Histogram("test_labelled_seconds", "labelled's test", ["kind"], buckets=(0.1, 1.0))


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_series_counts_where_the_metric_reports_it() -> None:
    labelled(_COUNTS, "email", "success").inc()
    labelled(_COUNTS, "email", "success").inc(2)
    labelled(_COUNTS, "sms", "success").inc()
    labelled(_TIMES, "email").observe(0.5)
    assert _value("test_labelled_total", kind="email", outcome="success") == 3
    assert _value("test_labelled_total", kind="sms", outcome="success") == 1
    assert _value("test_labelled_seconds_bucket", kind="email", le="1.0") == 1
    assert _value("test_labelled_seconds_bucket", kind="email", le="0.1") == 0


def test_the_series_is_the_one_labels_returns_and_is_kept() -> None:
    first = labelled(_COUNTS, "email", "rejected")
    assert first is _COUNTS.labels("email", "rejected")
    assert labelled(_COUNTS, "email", "rejected") is first
    # Same values on another metric: another series.
    assert labelled(_TIMES, "email") is not labelled(_COUNTS, "email", "rejected")

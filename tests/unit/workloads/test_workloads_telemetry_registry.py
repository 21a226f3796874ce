"""The Prometheus registry, as the OpenTelemetry exporters receive it: same names, labels, values and buckets;
cumulative for a collector, the change since the last export for Azure Monitor."""

import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from prometheus_client import CollectorRegistry, Counter
from prometheus_client import Gauge as PrometheusGauge
from prometheus_client import Histogram as PrometheusHistogram

from fabrikam.workloads.kit import telemetry
from fabrikam.workloads.kit.registry_export import Conversion, RegistryReader

DELTA, CUMULATIVE = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE


class Registry:
    """A registry of its own holding one metric of each kind the workloads use."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("t_requests_total", "requests", ["route"], registry=self.registry)
        self.depth = PrometheusGauge("t_depth", "depth", ["queue"], registry=self.registry)
        self.latency = PrometheusHistogram(
            "t_seconds", "latency", ["route"], buckets=(0.1, 1.0), registry=self.registry
        )


def by_name(metrics: Sequence[Metric]) -> dict[str, Metric]:
    return {metric.name: metric for metric in metrics}


def points(metric: Metric) -> dict[tuple[tuple[str, Any], ...], Any]:
    return {tuple(sorted((point.attributes or {}).items())): point for point in metric.data.data_points}


def test_counters_gauges_and_histograms_keep_their_prometheus_names_labels_and_buckets() -> None:
    r = Registry()
    r.requests.labels("/a").inc(3)
    r.depth.labels("q").set(7)
    for seconds in (0.05, 0.5, 0.5, 5.0):
        r.latency.labels("/a").observe(seconds)
    metrics = by_name(Conversion(CUMULATIVE, started_ns=1).metrics(r.registry.collect(), now_ns=2))
    assert set(metrics) == {"t_requests_total", "t_depth", "t_seconds"}

    requests = metrics["t_requests_total"].data
    assert isinstance(requests, Sum)
    assert (requests.is_monotonic, requests.aggregation_temporality) == (True, CUMULATIVE)
    point = points(metrics["t_requests_total"])[(("route", "/a"),)]
    assert isinstance(point, NumberDataPoint)
    assert (point.value, point.start_time_unix_nano, point.time_unix_nano) == (3, 1, 2)

    assert isinstance(metrics["t_depth"].data, Gauge)
    assert points(metrics["t_depth"])[(("queue", "q"),)].value == 7

    assert isinstance(metrics["t_seconds"].data, Histogram)
    histogram = points(metrics["t_seconds"])[(("route", "/a"),)]
    assert isinstance(histogram, HistogramDataPoint)
    assert list(histogram.explicit_bounds) == [0.1, 1.0]
    assert list(histogram.bucket_counts) == [1, 2, 1]  # ≤0.1, ≤1, above: not cumulative, as OTLP counts them
    assert (histogram.count, histogram.sum) == (4, 6.05)
    assert (histogram.min, histogram.max) == (None, None)  # Prometheus never knew them


def test_cumulative_values_keep_growing_from_the_start() -> None:
    r = Registry()
    conversion = Conversion(CUMULATIVE, started_ns=1)
    r.requests.labels("/a").inc()
    conversion.metrics(r.registry.collect(), now_ns=2)
    r.requests.labels("/a").inc()
    second = points(by_name(conversion.metrics(r.registry.collect(), now_ns=3))["t_requests_total"])
    assert [(p.value, p.start_time_unix_nano, p.time_unix_nano) for p in second.values()] == [(2, 1, 3)]


def test_deltas_are_the_change_since_the_last_export_and_a_series_that_did_not_move_is_left_out() -> None:
    r = Registry()
    conversion = Conversion(DELTA, started_ns=1)
    r.requests.labels("/a").inc(2)
    r.latency.labels("/a").observe(0.05)
    r.depth.labels("q").set(4)
    first = by_name(conversion.metrics(r.registry.collect(), now_ns=2))
    assert [p.value for p in points(first["t_requests_total"]).values()] == [2]

    r.requests.labels("/a").inc(3)
    r.requests.labels("/b").inc()
    r.latency.labels("/a").observe(0.5)
    r.latency.labels("/a").observe(0.5)
    second = by_name(conversion.metrics(r.registry.collect(), now_ns=3))
    requests = {
        key: (p.value, p.start_time_unix_nano, p.time_unix_nano)
        for key, p in points(second["t_requests_total"]).items()
    }
    assert requests == {(("route", "/a"),): (3, 2, 3), (("route", "/b"),): (1, 2, 3)}
    assert second["t_requests_total"].data.aggregation_temporality is DELTA  # type: ignore[union-attr]
    latency = points(second["t_seconds"])[(("route", "/a"),)]
    assert (list(latency.bucket_counts), latency.count, latency.sum) == ([0, 2, 0], 2, 1.0)

    third = by_name(conversion.metrics(r.registry.collect(), now_ns=4))
    assert "t_requests_total" not in third  # nothing moved
    assert "t_seconds" not in third
    assert [p.value for p in points(third["t_depth"]).values()] == [4]  # gauges are sent as they are, moved or not


class Recording(MetricExporter):
    """The far end of an export, kept in memory: the OpenTelemetry exporter interface, not the kit."""

    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **_: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        pass


def test_the_reader_exports_the_registry_periodically_with_the_resource_and_once_more_at_shutdown() -> None:
    r = Registry()
    r.requests.labels("/a").inc()
    exporter = Recording()
    reader = RegistryReader(
        exporter,
        r.registry,
        telemetry.resource("unit-tests"),
        temporality=CUMULATIVE,
        interval_seconds=0.05,
        timeout_seconds=1,
    )
    try:
        deadline = time.monotonic() + 5
        while not exporter.exported and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exporter.exported, "nothing exported by the reader's own thread"
    finally:
        r.requests.labels("/a").inc()
        reader.shutdown()
    last = exporter.exported[-1].resource_metrics[0]
    assert last.resource.attributes["service.name"] == "fabrikam-unit-tests"
    metric = by_name(last.scope_metrics[0].metrics)["t_requests_total"]
    assert [point.value for point in metric.data.data_points] == [2]  # the final export saw the last increment


def test_the_service_name_is_the_operators_where_it_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator sets OTEL_SERVICE_NAME to the DroneService's name; a process started by hand names itself."""
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=fabrikam-shipping,team=shipping")
    alone = telemetry.resource("ingestion").attributes
    assert (alone["service.name"], alone["service.namespace"]) == ("fabrikam-ingestion", "fabrikam-shipping")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "reports")
    named = telemetry.resource("custom").attributes
    assert (named["service.name"], named["service.namespace"], named["team"]) == (
        "reports",
        "fabrikam-shipping",
        "shipping",
    )

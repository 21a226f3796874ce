"""Pushes the Prometheus registry, where every workload metric lives for `/metrics`, to an OpenTelemetry exporter.

One set of instruments, scraped by Prometheus and pushed to Azure Monitor or an OTLP collector alike: nothing
is recorded twice on the hot path, and both see the same names, labels and values. The conversion runs once per
export interval (a minute by default) on the SDK's export thread.

Counters become monotonic sums named as Prometheus shows them (`fabrikam_http_requests_total`), gauges gauges,
histograms histograms with the same buckets. A destination that wants changes (Azure Monitor: counters and
histograms as deltas) gets what changed since the last export, and nothing for a series that did not move.
"""

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry
from prometheus_client import Metric as Family

SCOPE = InstrumentationScope("fabrikam.workloads")
# prometheus_client's histograms keep no minimum or maximum; OTLP's and Azure Monitor's are optional, and both
# exporters leave out a None (the SDK's type says float only because its own histograms always know them).
_UNKNOWN: Any = None

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Buckets:
    """A histogram series as Prometheus keeps it: cumulative counts per upper bound, then count and sum."""

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]
    count: float
    total: float

    def minus(self, before: "_Buckets | None") -> "_Buckets":
        if before is None or before.bounds != self.bounds or before.count > self.count:
            return self  # new, or reset (a series removed and made again): all of it is new
        return _Buckets(
            self.bounds,
            tuple(now - then for now, then in zip(self.cumulative, before.cumulative, strict=True)),
            self.count - before.count,
            self.total - before.total,
        )


class Conversion:
    """Families of the Prometheus registry → OpenTelemetry metrics; with DELTA temporality it remembers the last
    values it converted, so each call gives the change since the one before."""

    def __init__(self, temporality: AggregationTemporality, started_ns: int) -> None:
        self._temporality = temporality
        self._previous_ns = started_ns
        self._started_ns = started_ns
        self._counters: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], _Buckets] = {}

    def metrics(self, families: Iterable[Family], now_ns: int) -> list[Metric]:
        delta = self._temporality is AggregationTemporality.DELTA
        start_ns = self._previous_ns if delta else self._started_ns
        converted: list[Metric] = []
        for family in families:
            if family.type == "counter":
                points = self._counter_points(family, start_ns, now_ns, delta)
                data: Sum | Gauge | Histogram = Sum(points, self._temporality, is_monotonic=True)
                name = f"{family.name}_total"
            elif family.type == "gauge":
                data, name = Gauge(_gauge_points(family, now_ns)), family.name
            elif family.type == "histogram":
                data = Histogram(self._histogram_points(family, start_ns, now_ns, delta), self._temporality)
                name = family.name
            else:
                continue  # summaries, infos and state sets: none of the workloads' metrics is one
            if data.data_points:
                converted.append(Metric(name, family.documentation, family.unit, data))
        self._previous_ns = now_ns
        return converted

    def _counter_points(self, family: Family, start_ns: int, now_ns: int, delta: bool) -> list[NumberDataPoint]:
        points = []
        for sample in family.samples:
            if sample.name != f"{family.name}_total":
                continue  # `_created`
            labels = _labels(sample.labels)
            value = sample.value
            if delta:
                before = self._counters.get((sample.name, labels), 0.0)
                self._counters[(sample.name, labels)] = value
                value = value - before if value >= before else value
                if value == 0:
                    continue
            points.append(NumberDataPoint(dict(labels), start_ns, now_ns, value))
        return points

    def _histogram_points(self, family: Family, start_ns: int, now_ns: int, delta: bool) -> list[HistogramDataPoint]:
        points = []
        for labels, series in _histogram_series(family).items():
            if delta:
                before = self._histograms.get((family.name, labels))
                self._histograms[(family.name, labels)] = series
                series = series.minus(before)
                if series.count == 0:
                    continue
            counts = [int(now - then) for now, then in zip(series.cumulative, (0.0, *series.cumulative), strict=False)]
            points.append(
                HistogramDataPoint(
                    attributes=dict(labels),
                    start_time_unix_nano=start_ns,
                    time_unix_nano=now_ns,
                    count=int(series.count),
                    sum=series.total,
                    bucket_counts=counts,
                    explicit_bounds=list(series.bounds[:-1]),  # the last bucket is +Inf, implied
                    min=_UNKNOWN,
                    max=_UNKNOWN,
                )
            )
        return points


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _gauge_points(family: Family, now_ns: int) -> list[NumberDataPoint]:
    return [NumberDataPoint(dict(_labels(sample.labels)), 0, now_ns, sample.value) for sample in family.samples]


def _histogram_series(family: Family) -> dict[Labels, _Buckets]:
    """Each label set's buckets (ordered by bound, +Inf last), count and sum, from the family's flat samples."""
    buckets: dict[Labels, list[tuple[float, float]]] = {}
    counts: dict[Labels, float] = {}
    totals: dict[Labels, float] = {}
    for sample in family.samples:
        if sample.name == f"{family.name}_bucket":
            bound = float(sample.labels["le"])
            labels = _labels({key: value for key, value in sample.labels.items() if key != "le"})
            buckets.setdefault(labels, []).append((bound, sample.value))
        elif sample.name == f"{family.name}_count":
            counts[_labels(sample.labels)] = sample.value
        elif sample.name == f"{family.name}_sum":
            totals[_labels(sample.labels)] = sample.value
    series = {}
    for labels, pairs in buckets.items():
        pairs.sort()
        bounds = tuple(bound for bound, _ in pairs)
        cumulative = tuple(count for _, count in pairs)
        series[labels] = _Buckets(bounds, cumulative, counts.get(labels, cumulative[-1]), totals.get(labels, 0.0))
    return series


class RegistryReader(PeriodicExportingMetricReader):
    """The SDK's periodic reader (its thread, interval, export timeout, lock and final export at shutdown), reading
    the Prometheus registry instead of the SDK's own instruments.

    Python's SDK readers collect only instruments of a MeterProvider and, unlike Go's (`RegisterProducer`, which
    its Prometheus bridge uses), take no other producer: so `collect`, which the reader's thread, `force_flush`
    and `shutdown` call, is where the registry is read. The reader is used without a MeterProvider."""

    def __init__(
        self,
        exporter: MetricExporter,
        registry: CollectorRegistry,
        resource: Resource,
        *,
        temporality: AggregationTemporality,
        interval_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self._registry = registry
        self._resource = resource
        self._conversion = Conversion(temporality, time.time_ns())
        self._converting = threading.Lock()  # the reader's thread and a flush may collect at once
        super().__init__(
            exporter, export_interval_millis=interval_seconds * 1000, export_timeout_millis=timeout_seconds * 1000
        )

    def collect(self, timeout_millis: float = 10_000) -> None:  # type: ignore[misc]  # final in the SDK: see above
        with self._converting:
            metrics = self._conversion.metrics(self._registry.collect(), time.time_ns())
        if not metrics:
            return
        scope = ScopeMetrics(SCOPE, metrics, schema_url="")
        data = MetricsData([ResourceMetrics(self._resource, [scope], schema_url=self._resource.schema_url)])
        self._receive_metrics(data, timeout_millis=timeout_millis)

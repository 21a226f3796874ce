"""One telemetry setup for every service: traces and metrics to Azure Monitor, to an OTLP collector, or nowhere.

The destination comes from the settings alone (`choose`, a pure function), so all eight services behave alike:
Application Insights in Azure, an OpenTelemetry collector elsewhere. Traces follow a delivery across the queues
(`kit/tracing.py`); metrics are the Prometheus registry that `/metrics` serves, pushed as well
(`kit/registry_export.py`). A share of the traces is kept, each whole (`kit/trace_sampling.py`). Exports run on
the SDK's threads with a bounded timeout: a destination that is down or silent delays neither a start, nor a
request, nor a stop by more than that.
"""

import logging
import os
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from opentelemetry import trace
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import REGISTRY, CollectorRegistry

from fabrikam.workloads.kit import trace_sampling, tracing
from fabrikam.workloads.kit.registry_export import RegistryReader
from fabrikam.workloads.kit.settings import ServiceSettings

log = logging.getLogger(__name__)

# The Azure Monitor exporter also reports its own usage to Microsoft (statsbeat) and polls Microsoft for feature
# flags (the control plane). Telemetry goes only where the platform sends it; setting either variable to
# "false" turns that back on.
AZURE_SDK_CALLS_OFF = ("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED")


class Destination(StrEnum):
    AZURE_MONITOR = "azure-monitor"
    OTLP = "otlp"
    NONE = "none"


@dataclass(frozen=True)
class Choice:
    """Where telemetry goes and why; `misconfigured` when what was asked for cannot be done (it then goes
    nowhere, and the service says so at start instead of refusing to run for want of telemetry)."""

    destination: Destination
    why: str
    misconfigured: bool = False


def choose(settings: ServiceSettings) -> Choice:
    connection_string = settings.applicationinsights_connection_string
    endpoint = settings.otlp_endpoint
    if settings.telemetry == "none":
        return Choice(Destination.NONE, "FABRIKAM_TELEMETRY=none")
    if settings.telemetry == "azure-monitor":
        if not connection_string:
            return Choice(
                Destination.NONE,
                "FABRIKAM_TELEMETRY=azure-monitor needs APPLICATIONINSIGHTS_CONNECTION_STRING",
                misconfigured=True,
            )
        return Choice(Destination.AZURE_MONITOR, "FABRIKAM_TELEMETRY=azure-monitor")
    if settings.telemetry == "otlp":
        if not endpoint:
            return Choice(
                Destination.NONE,
                "FABRIKAM_TELEMETRY=otlp needs FABRIKAM_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT",
                misconfigured=True,
            )
        return Choice(Destination.OTLP, "FABRIKAM_TELEMETRY=otlp")
    if connection_string:
        return Choice(Destination.AZURE_MONITOR, "APPLICATIONINSIGHTS_CONNECTION_STRING is set")
    if endpoint:
        return Choice(Destination.OTLP, "an OTLP endpoint is set")
    return Choice(Destination.NONE, "neither APPLICATIONINSIGHTS_CONNECTION_STRING nor an OTLP endpoint is set")


@dataclass(frozen=True)
class Exporters:
    """A destination's exporters, and the temporality its counters and histograms are sent in."""

    spans: SpanExporter
    metrics: MetricExporter
    temporality: AggregationTemporality


def exporters(choice: Choice, settings: ServiceSettings, provider: TracerProvider) -> Exporters | None:
    """Imported only when chosen: the exporters' SDKs are heavy imports that a service sending nowhere never needs.
    `provider` is the one the spans come from (Azure Monitor describes the process by its resource)."""
    timeout = settings.telemetry_timeout_seconds
    if choice.destination is Destination.OTLP:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = (settings.otlp_endpoint or "").rstrip("/")
        return Exporters(
            OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=timeout),
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=timeout),
            # What Prometheus-style backends behind a collector expect.
            AggregationTemporality.CUMULATIVE,
        )
    if choice.destination is Destination.AZURE_MONITOR:
        for variable in AZURE_SDK_CALLS_OFF:
            os.environ.setdefault(variable, "true")
        from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter, AzureMonitorTraceExporter

        # `timeout` bounds each attempt's connect (the exporter's own use of it) and each call with its retries
        # (azure-core's retry policy reads it as its overall timeout); `read_timeout` each attempt's answer. No
        # offline storage: it would fill the pod's small /tmp with telemetry the next exports supersede.
        connection_string = settings.applicationinsights_connection_string
        return Exporters(
            AzureMonitorTraceExporter(
                tracer_provider=provider,
                connection_string=connection_string,
                disable_offline_storage=True,
                timeout=timeout,
                read_timeout=timeout,
            ),
            AzureMonitorMetricExporter(
                connection_string=connection_string,
                disable_offline_storage=True,
                timeout=timeout,
                read_timeout=timeout,
            ),
            # Application Insights adds up what it receives: counters and histograms go as changes.
            AggregationTemporality.DELTA,
        )
    return None


def resource(service: str) -> Resource:
    """`service.name` is OTEL_SERVICE_NAME where the operator sets it (the DroneService's name, two teams' services
    of one component apart), else `fabrikam-<service>`; OTEL_RESOURCE_ATTRIBUTES (the operator's namespace and team)
    joins it. Attributes given in code would win over the variable, so the default is given only without it."""
    detected = Resource.create()
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        return Resource.create({"service.name": f"fabrikam-{service}"})
    return detected


@dataclass
class Telemetry:
    """The process's tracer provider and metric reader; `shutdown` flushes both within the export timeout."""

    choice: Choice
    tracer_provider: TracerProvider
    metric_reader: RegistryReader | None
    timeout_seconds: float

    def shutdown(self) -> None:
        """Send what is left, spans and metrics at once, for at most the export timeout: a destination that is
        down must not hold up a stop (the SDK's span flush alone may wait 30 s). What is still unsent then is
        dropped with the process."""
        deadline = time.monotonic() + self.timeout_seconds
        spans = threading.Thread(target=self.tracer_provider.shutdown, name="telemetry-shutdown", daemon=True)
        spans.start()
        if self.metric_reader is not None:
            self.metric_reader.shutdown(timeout_millis=self.timeout_seconds * 1000)
        spans.join(max(0.0, deadline - time.monotonic()))


def build(settings: ServiceSettings, registry: CollectorRegistry = REGISTRY) -> Telemetry:
    """The service's telemetry, not yet installed (`configure` does that): tests build as many as they like."""
    choice = choose(settings)
    timeout = settings.telemetry_timeout_seconds
    described = resource(settings.service)
    kept = trace_sampling.sampler(
        settings.trace_sampling_ratio, application_insights=choice.destination is Destination.AZURE_MONITOR
    )
    provider = tracing.provider(described, exporting=choice.destination is not Destination.NONE, sampler=kept)
    chosen = exporters(choice, settings, provider)
    if chosen is None:
        return Telemetry(choice, provider, None, timeout)
    tracing.export(provider, chosen.spans, timeout_seconds=timeout)
    reader = RegistryReader(
        chosen.metrics,
        registry,
        described,
        temporality=chosen.temporality,
        interval_seconds=settings.telemetry_export_interval_seconds,
        timeout_seconds=timeout,
    )
    return Telemetry(choice, provider, reader, timeout)


def configure(settings: ServiceSettings) -> Telemetry:
    """Build the service's telemetry and install its tracer provider for the process; says where it goes."""
    telemetry = build(settings)
    trace.set_tracer_provider(telemetry.tracer_provider)
    choice = telemetry.choice
    fields = {"destination": choice.destination.value, "why": choice.why}
    if choice.misconfigured:
        log.error("telemetry goes nowhere: %s", choice.why, extra={"fields": fields})
    else:
        log.info("telemetry", extra={"fields": fields})
    return telemetry

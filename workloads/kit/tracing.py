"""OpenTelemetry tracing whose context travels inside message headers, so a trace spans the whole saga."""

import functools
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import Span, SpanKind

log = logging.getLogger(__name__)


def configure(service: str, otlp_endpoint: str | None) -> None:
    """Install the process's tracer provider (see `provider`)."""
    trace.set_tracer_provider(provider(service, otlp_endpoint))


def provider(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """Spans are exported over OTLP/HTTP when an endpoint is configured and the exporter is installed.

    Without an exporter nothing would ever read a recorded span, so the process starts no sampled trace of its
    own: its spans are non-recording but carry real trace and span ids, so traceparent still flows through the
    messages and every log line still has its trace id. A caller's sampled traceparent is still honoured."""
    exporter = _otlp_exporter(otlp_endpoint) if otlp_endpoint else None
    resource = Resource.create({"service.name": f"fabrikam-{service}"})
    if exporter is None:
        return TracerProvider(resource=resource, sampler=ParentBased(root=ALWAYS_OFF))
    traced = TracerProvider(resource=resource)
    traced.add_span_processor(BatchSpanProcessor(exporter))
    return traced


def _otlp_exporter(endpoint: str) -> SpanExporter | None:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
    except ImportError:
        log.warning("OTLP exporter not installed; spans stay in process", extra={"fields": {}})
        return None
    exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint)
    return exporter


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Write the current trace context (traceparent) into outgoing message headers."""
    propagate.inject(headers)
    return headers


@functools.cache
def _tracer() -> trace.Tracer:
    """One tracer per process: looking it up costs more than a span on the message hot path. Taken before
    `configure`, it is a proxy that follows the provider installed later."""
    return trace.get_tracer("fabrikam.workloads")


@contextmanager
def consuming(name: str, headers: Mapping[str, str]) -> Iterator[Span]:
    """A consumer span, child of the producer's span carried in the message headers."""
    context = propagate.extract(dict(headers))
    with _tracer().start_as_current_span(name, context=context, kind=SpanKind.CONSUMER) as span:
        yield span


@contextmanager
def producing(name: str) -> Iterator[Span]:
    """A producer span around work that publishes messages."""
    with _tracer().start_as_current_span(name, kind=SpanKind.PRODUCER) as span:
        yield span

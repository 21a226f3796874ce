"""OpenTelemetry tracing whose context travels inside message headers, so a trace spans the whole saga."""

import functools
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind

log = logging.getLogger(__name__)


def configure(service: str, otlp_endpoint: str | None) -> None:
    """Install a tracer provider; spans are exported over OTLP/HTTP when an endpoint is configured."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"fabrikam-{service}"}))
    if otlp_endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError:
            log.warning("OTLP exporter not installed; spans stay in process", extra={"fields": {}})
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)


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

"""OpenTelemetry tracing whose context travels inside message headers, so a trace spans the whole saga."""

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace import Link, Span, SpanKind


def provider(resource: Resource, *, exporting: bool, sampler: Sampler | None = None) -> TracerProvider:
    """The process's tracer provider; `kit/telemetry.py` decides whether spans are exported, and installs it.

    Exported, the traces kept are those `sampler` keeps (`kit/trace_sampling.py`), by default all of them.
    Without export nothing would ever read a recorded span, so the process starts no sampled trace of its own:
    its spans are non-recording but carry real trace and span ids, so traceparent still flows through the
    messages and every log line still has its trace id. A caller's sampled traceparent is still honoured.
    The provider is shut down by its owner (a bounded flush), not at interpreter exit."""
    if not exporting:
        sampler = ParentBased(root=ALWAYS_OFF)
    return TracerProvider(resource=resource, sampler=sampler or ParentBased(root=ALWAYS_ON), shutdown_on_exit=False)


def export(provider: TracerProvider, exporter: SpanExporter, *, timeout_seconds: float) -> None:
    """Spans leave in batches on the SDK's own thread, each export bounded by `timeout_seconds` with its
    retries, so a destination that is down costs the request path nothing."""
    provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=timeout_seconds * 1000))


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


def linked_span(name: str, linked: Mapping[str, str], attributes: Mapping[str, str]) -> Span:
    """A span of the current trace for work that belongs to another trace as well: linked to the span whose context
    `linked` carries (headers as `inject` writes them; no link when empty). Started, neither current nor ended:
    its owner makes it current around what it causes and ends it once that is done, or drops it unended, and then
    it is never exported."""
    context = trace.get_current_span(propagate.extract(dict(linked))).get_span_context()
    links = [Link(context)] if context.is_valid else []
    return _tracer().start_span(name, links=links, attributes=attributes)


@contextmanager
def producing(name: str) -> Iterator[Span]:
    """A producer span around work that publishes messages."""
    with _tracer().start_as_current_span(name, kind=SpanKind.PRODUCER) as span:
        yield span

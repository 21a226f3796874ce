"""Tracing without an exporter records nothing, yet trace context still flows through messages."""

from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from fabrikam.workloads.kit import telemetry, tracing

RESOURCE = telemetry.resource("unit-tests")
SAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_without_an_exporter_a_new_trace_is_not_recorded_but_has_ids_that_propagate() -> None:
    provider = tracing.provider(RESOURCE, exporting=False)
    with provider.get_tracer("t").start_as_current_span("ingest", kind=SpanKind.PRODUCER) as span:
        recording = span.is_recording()
        headers = tracing.inject({})
    context = span.get_span_context()
    assert not recording
    assert context.is_valid
    _, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert not int(flags, 16) & 0x01  # not sampled


def test_without_an_exporter_a_consumer_span_joins_the_trace_of_the_message() -> None:
    provider = tracing.provider(RESOURCE, exporting=False)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    context = propagate.extract({"traceparent": parent})
    with provider.get_tracer("t").start_as_current_span("work", context=context, kind=SpanKind.CONSUMER) as span:
        recording = span.is_recording()
    assert span.get_span_context().trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert not recording


def test_without_an_exporter_a_callers_sampled_trace_stays_sampled() -> None:
    provider = tracing.provider(RESOURCE, exporting=False)
    context = propagate.extract({"traceparent": SAMPLED_PARENT})
    with provider.get_tracer("t").start_as_current_span("work", context=context, kind=SpanKind.CONSUMER) as span:
        recording = span.is_recording()
        headers = tracing.inject({})
    assert recording
    assert headers["traceparent"].endswith("-01")

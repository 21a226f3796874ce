"""Which traces are kept: a share of those a service starts, chosen by trace id; every other span follows the
decision of its parent, whether the parent is in this process or in the service whose request or message carried the
trace context (the sampled flag of its traceparent). So a delivery's trace, which crosses the queues, is kept or
dropped whole.

The share is the settings' `trace_sampling_ratio`. The operator sets it for every service of a platform from
`spec.observability.tracing.samplingRatio`, as the standard OTEL_TRACES_SAMPLER=parentbased_traceidratio and
OTEL_TRACES_SAMPLER_ARG, so a team's service on another OpenTelemetry SDK samples the same way. The kit reads both
variables itself: the SDK's sampler from the environment would suit the OTLP exporter, but not Application
Insights (below).

Application Insights counts what it was not sent. Each item carries the rate it was sampled at (`_MS.sampleRate`,
in percent) and stands for 100/rate items in the request and dependency counts. The exporter's own
`ApplicationInsightsSampler` records that rate, but only on the spans it decides for, and it decides for every span
by trace-id hash, ignoring the parent's flag. Here it decides for new traces only. A span that follows a sampled
parent records the rate too: without it, each service past the first would count one request per kept trace
instead of 1/ratio. That rate is this service's ratio, which is the trace's when every service of the platform
has the same one (the operator gives them all the same).
"""

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

# The attribute Application Insights reads an item's sampling rate from, in percent.
SAMPLE_RATE = "_MS.sampleRate"


def sampler(ratio: float, *, application_insights: bool) -> Sampler:
    """Parent-based sampling that keeps `ratio` of new traces (0 to 1); for Application Insights, every kept span
    records the rate it stands for."""
    if not application_insights:
        return ParentBasedTraceIdRatio(ratio)
    # Imported only when chosen, like the exporter itself (`kit/telemetry.py`).
    from azure.monitor.opentelemetry.exporter import ApplicationInsightsSampler

    kept = KeptAtRate(ratio)
    return ParentBased(root=ApplicationInsightsSampler(ratio), remote_parent_sampled=kept, local_parent_sampled=kept)


class KeptAtRate(Sampler):
    """Keeps the span of a sampled parent, with the Application Insights sampling rate of `ratio`."""

    def __init__(self, ratio: float) -> None:
        self._percent = ratio * 100

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        return SamplingResult(
            Decision.RECORD_AND_SAMPLE, {**(attributes or {}), SAMPLE_RATE: self._percent}, parent.trace_state
        )

    def get_description(self) -> str:
        return f"KeptAtRate{{{self._percent:g}%}}"

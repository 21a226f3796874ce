"""A share of new traces is kept, decided at a trace's first span; every later span follows that decision, in the
same process or in the next service, so a trace is kept or dropped whole. For Application Insights every kept span
says the rate it was kept at."""

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from fabrikam.workloads.kit import telemetry, trace_sampling
from fabrikam.workloads.kit.settings import ServiceSettings

CONNECTION_STRING = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:1/"
DESTINATIONS = {
    "otlp": {"otlp_endpoint": "http://127.0.0.1:1"},
    "azure-monitor": {"applicationinsights_connection_string": CONNECTION_STRING},
}
SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOT_SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the machine's sampling variables nor its destination choose for the tests; no call to Microsoft."""
    for variable in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "FABRIKAM_TELEMETRY"):
        monkeypatch.delenv(variable, raising=False)
    for variable in (*telemetry.AZURE_SDK_CALLS_OFF, "APPLICATIONINSIGHTS_SDKSTATS_DISABLED"):
        monkeypatch.setenv(variable, "true")


class Service:
    """A service's tracer provider as the kit builds it, its finished spans kept in memory."""

    def __init__(self, destination: str, ratio: float) -> None:
        values: dict[str, Any] = {"trace_sampling_ratio": ratio, "telemetry_timeout_seconds": 0.2}
        self.telemetry = telemetry.build(ServiceSettings(service="unit-tests", **values, **DESTINATIONS[destination]))
        self.finished = InMemorySpanExporter()
        self.telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(self.finished))
        self.tracer = self.telemetry.tracer_provider.get_tracer("t")

    def handle(self, headers: dict[str, str]) -> tuple[bool, dict[str, str]]:
        """A message or request carrying `headers`: whether its span was kept, and the headers it sends on."""
        context = propagate.extract(headers)
        with (
            self.tracer.start_as_current_span("process", context=context, kind=SpanKind.CONSUMER),
            self.tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as span,
        ):
            return span.is_recording(), _injected()

    def start(self) -> tuple[bool, dict[str, str]]:
        """A request with no trace context: a new trace."""
        return self.handle({})

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.finished.get_finished_spans()


def _injected() -> dict[str, str]:
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


@pytest.fixture
def services() -> Iterator[list[Service]]:
    built: list[Service] = []
    yield built
    for service in built:
        service.telemetry.shutdown()


def test_the_ratio_comes_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().trace_sampling_ratio == 1.0  # everything, as the SDK's default
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    assert ServiceSettings().trace_sampling_ratio == 0.25


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_TRACES_SAMPLER_ARG", "1.5"), ("OTEL_TRACES_SAMPLER_ARG", "-0.1"), ("OTEL_TRACES_SAMPLER", "always_on")],
)
def test_a_ratio_outside_0_to_1_or_another_sampler_stops_the_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        ServiceSettings()
    assert [error["loc"] for error in raised.value.errors()] == [(variable,)]


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_ratio_0_starts_no_kept_trace_but_a_sampled_caller_is_followed(
    services: list[Service], destination: str
) -> None:
    service = Service(destination, 0.0)
    services.append(service)
    assert not any(service.start()[0] for _ in range(200))
    assert service.handle({"traceparent": SAMPLED})[0]


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_a_caller_that_dropped_its_trace_is_followed_even_at_ratio_1(services: list[Service], destination: str) -> None:
    service = Service(destination, 1.0)
    services.append(service)
    assert not service.handle({"traceparent": NOT_SAMPLED})[0]
    assert service.start()[0]


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_with_ratio_one_half_about_half_the_traces_are_kept_each_in_every_service_or_in_none(
    services: list[Service], destination: str
) -> None:
    first, next_one, last = Service(destination, 0.5), Service(destination, 0.5), Service(destination, 0.0)
    services += [first, next_one, last]
    outcomes = []
    for _ in range(1000):
        kept, headers = first.start()
        kept_next, headers = next_one.handle(headers)
        kept_last, _ = last.handle(headers)  # its own ratio is not asked: the trace was decided
        outcomes.append((kept, kept_next, kept_last))
    assert set(outcomes) == {(True, True, True), (False, False, False)}
    assert 400 < sum(kept for kept, _, _ in outcomes) < 600


def test_every_span_kept_for_application_insights_says_the_rate_it_stands_for(services: list[Service]) -> None:
    first, next_one = Service("azure-monitor", 0.25), Service("azure-monitor", 0.25)
    services += [first, next_one]
    for _ in range(100):
        next_one.handle(first.start()[1])
    spans = [*first.spans(), *next_one.spans()]
    assert len(spans) > 20  # roots, local children and remote children of about 25 kept traces
    assert {span.attributes[trace_sampling.SAMPLE_RATE] for span in spans if span.attributes} == {25.0}
    assert all(span.attributes for span in spans)


def test_the_otlp_destination_uses_the_sdks_own_parent_based_ratio_sampler(services: list[Service]) -> None:
    service = Service("otlp", 0.5)
    services.append(service)
    description = service.telemetry.tracer_provider.sampler.get_description()
    assert description.startswith("ParentBased{root:TraceIdRatioBased{0.5}")

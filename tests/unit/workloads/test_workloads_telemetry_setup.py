"""Where a service's traces and metrics go, from its settings alone; and that a destination that is down or silent
holds up neither a start nor a stop."""

import time
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import AggregationTemporality

from fabrikam.workloads.kit import telemetry
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.kit.telemetry import Destination

CONNECTION_STRING = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:1/"
ENDPOINT = "http://collector:4318"
TELEMETRY_VARIABLES = (
    "FABRIKAM_TELEMETRY",
    "FABRIKAM_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "FABRIKAM_APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own telemetry variables must not choose for the tests; nor may the Azure SDK call Microsoft."""
    for variable in TELEMETRY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable in telemetry.AZURE_SDK_CALLS_OFF:
        monkeypatch.setenv(variable, "true")
    # Its own usage report to the (here unreachable) resource, sent at interpreter exit: noise in the test output.
    monkeypatch.setenv("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true")


def settings(**values: Any) -> ServiceSettings:
    """Exports that give up fast: the tests' destinations do not exist."""
    return ServiceSettings(service="unit-tests", **({"telemetry_timeout_seconds": 0.2} | values))


@pytest.mark.parametrize(
    ("values", "destination", "misconfigured"),
    [
        ({}, Destination.NONE, False),
        ({"otlp_endpoint": ENDPOINT}, Destination.OTLP, False),
        ({"applicationinsights_connection_string": CONNECTION_STRING}, Destination.AZURE_MONITOR, False),
        (
            {"otlp_endpoint": ENDPOINT, "applicationinsights_connection_string": CONNECTION_STRING},
            Destination.AZURE_MONITOR,
            False,
        ),
        (
            {
                "telemetry": "otlp",
                "otlp_endpoint": ENDPOINT,
                "applicationinsights_connection_string": CONNECTION_STRING,
            },
            Destination.OTLP,
            False,
        ),
        ({"telemetry": "none", "otlp_endpoint": ENDPOINT}, Destination.NONE, False),
        ({"telemetry": "otlp"}, Destination.NONE, True),
        ({"telemetry": "azure-monitor", "otlp_endpoint": ENDPOINT}, Destination.NONE, True),
    ],
)
def test_the_destination_follows_the_settings(
    values: dict[str, str], destination: Destination, misconfigured: bool
) -> None:
    choice = telemetry.choose(settings(**values))
    assert (choice.destination, choice.misconfigured) == (destination, misconfigured)


def test_a_destination_asked_for_but_not_configured_says_which_variable_is_missing() -> None:
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in telemetry.choose(settings(telemetry="azure-monitor")).why
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in telemetry.choose(settings(telemetry="otlp")).why


def test_the_standard_variables_choose_too_and_the_services_own_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://standard:4318")
    assert ServiceSettings().otlp_endpoint == "http://standard:4318"
    assert telemetry.choose(ServiceSettings()).destination is Destination.OTLP
    monkeypatch.setenv("FABRIKAM_OTLP_ENDPOINT", "http://ours:4318")
    assert ServiceSettings().otlp_endpoint == "http://ours:4318"
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", CONNECTION_STRING)
    assert telemetry.choose(ServiceSettings()).destination is Destination.AZURE_MONITOR
    monkeypatch.setenv("FABRIKAM_TELEMETRY", "none")
    assert telemetry.choose(ServiceSettings()).destination is Destination.NONE


def test_otlp_sends_traces_and_metrics_to_their_paths_under_the_base_url_in_cumulative_terms() -> None:
    configured = settings(otlp_endpoint=f"{ENDPOINT}/", telemetry_timeout_seconds=2.5)
    built = telemetry.build(configured)
    exporters = telemetry.exporters(built.choice, configured, built.tracer_provider)
    assert exporters is not None
    assert exporters.spans._endpoint == f"{ENDPOINT}/v1/traces"  # type: ignore[attr-defined]
    assert exporters.metrics._endpoint == f"{ENDPOINT}/v1/metrics"  # type: ignore[attr-defined]
    assert exporters.temporality is AggregationTemporality.CUMULATIVE
    assert built.metric_reader is not None
    built.shutdown()


def test_azure_monitor_gets_changes_has_no_disk_buffer_and_makes_no_calls_to_microsoft() -> None:
    configured = settings(applicationinsights_connection_string=CONNECTION_STRING)
    built = telemetry.build(configured)
    exporters = telemetry.exporters(built.choice, configured, built.tracer_provider)
    assert exporters is not None
    assert exporters.temporality is AggregationTemporality.DELTA
    for exporter in (exporters.spans, exporters.metrics):
        assert exporter.storage is None  # type: ignore[attr-defined]
        assert not exporter._should_collect_stats()  # type: ignore[attr-defined]
    built.shutdown()


def test_without_a_destination_spans_are_not_recorded_and_nothing_is_pushed() -> None:
    built = telemetry.build(settings())
    with built.tracer_provider.get_tracer("t").start_as_current_span("work") as span:
        assert not span.is_recording()
    assert built.metric_reader is None
    built.shutdown()


def test_with_a_destination_spans_are_recorded_and_carry_the_service_name() -> None:
    built = telemetry.build(settings(otlp_endpoint="http://127.0.0.1:1"))
    with built.tracer_provider.get_tracer("t").start_as_current_span("work") as span:
        assert span.is_recording()
    assert built.tracer_provider.resource.attributes["service.name"] == "fabrikam-unit-tests"
    built.shutdown()


TIMEOUT = 0.5
SLACK = 1.5  # a loaded 2-core machine


@pytest.mark.parametrize("destination", ["otlp", "azure-monitor"])
@pytest.mark.parametrize("collector", ["silent", "closed"])
def test_a_destination_that_is_down_or_silent_costs_a_start_and_a_stop_at_most_the_timeout(
    destination: str, collector: str, silent_port: int, closed_port: int
) -> None:
    port = silent_port if collector == "silent" else closed_port
    address = {
        "otlp": {"otlp_endpoint": f"http://127.0.0.1:{port}"},
        "azure-monitor": {
            "applicationinsights_connection_string": (
                f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:{port}/"
            )
        },
    }[destination]
    started = time.monotonic()
    built = telemetry.build(
        settings(
            telemetry=destination, telemetry_timeout_seconds=TIMEOUT, telemetry_export_interval_seconds=0.1, **address
        )
    )
    built_in = time.monotonic() - started
    tracer = built.tracer_provider.get_tracer("t")
    for _ in range(3000):  # more than one batch waits when the process stops
        with tracer.start_as_current_span("work"):
            pass
    time.sleep(0.3)  # metric exports are under way
    stopping = time.monotonic()
    built.shutdown()
    stopped_in = time.monotonic() - stopping
    assert built_in < SLACK
    assert stopped_in < TIMEOUT + SLACK

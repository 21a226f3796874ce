"""A service process exporting to Azure Monitor (a real local endpoint speaking its ingestion API) and to a
destination that is down: what reaches Application Insights, and that a dead collector costs no start, no
request and no stop more than the export timeout."""

import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabrikam.devcluster.localstack import RedisServer, Service

from ...conftest import delivery_body, wait_for_value
from .otlp_receiver import OtlpReceiver

# Nothing may call Microsoft from a test (the kit turns these off too: this guards against that changing).
AZURE_SDK_OFF = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
}
INSTRUMENTATION_KEY = "00000000-0000-0000-0000-000000000000"


class ApplicationInsights:
    """Application Insights' ingestion endpoint as the exporter speaks to it: POST /v2.1/track, a JSON array of
    envelopes, answered with how many were accepted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.envelopes: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                items = json.loads(body)
                with sink._lock:
                    sink.envelopes.extend(items)
                answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def connection_string(self) -> str:
        port = self._server.server_address[1]
        return f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=http://127.0.0.1:{port}/"

    def received(self, base_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [item for item in self.envelopes if item["data"]["baseType"] == base_type]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def application_insights() -> Iterator[ApplicationInsights]:
    sink = ApplicationInsights()
    yield sink
    sink.stop()


@pytest.fixture
def ingestion(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Service]]:
    """Starts the ingestion service as a process with the given telemetry settings; stopped after the test."""
    started: list[Service] = []

    def start(env: dict[str, str]) -> Service:
        service = Service(
            "ingestion",
            tmp_path,
            {"FABRIKAM_REDIS_URL": redis_server.url, "FABRIKAM_SHUTDOWN_GRACE_SECONDS": "1", **AZURE_SDK_OFF, **env},
        )
        started.append(service)
        service.start()
        service.wait_ready(timeout=30)
        return service

    yield start
    for service in started:
        service.process.stop()


def test_azure_monitor_gets_the_request_and_its_publish_in_one_operation_and_the_metrics_as_changes(
    ingestion: Callable[[dict[str, str]], Service], application_insights: ApplicationInsights
) -> None:
    service = ingestion(
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": application_insights.connection_string,
            "FABRIKAM_TELEMETRY_EXPORT_INTERVAL_SECONDS": "0.5",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
    )
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for index in range(3):
            headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"} if index == 0 else {}
            assert client.post("/v1/deliveryrequests", json=delivery_body(1), headers=headers).status_code == 202

    def operation() -> dict[str, list[dict[str, Any]]] | None:
        found = {
            kind: [item for item in application_insights.received(kind) if item["tags"]["ai.operation.id"] == trace_id]
            for kind in ("RequestData", "RemoteDependencyData")
        }
        return found if all(found.values()) else None

    found = wait_for_value(operation, "the request and its publish in Application Insights")
    [request] = found["RequestData"]
    [publish] = found["RemoteDependencyData"]
    assert request["data"]["baseData"]["name"] == "POST /v1/deliveryrequests"
    assert request["tags"]["ai.cloud.role"] == "fabrikam-ingestion"
    assert publish["data"]["baseData"]["name"] == "delivery-requests publish"
    assert publish["tags"]["ai.operation.parentId"] == request["data"]["baseData"]["id"]

    def accepted(item: dict[str, Any]) -> bool:
        data = item["data"]["baseData"]
        properties = data.get("properties", {})
        return (
            data["metrics"][0]["name"] == "fabrikam_http_requests_total"
            and properties.get("route") == "/v1/deliveryrequests"
            and properties.get("status") == "202"
        )

    def counted() -> float | None:
        total = sum(
            item["data"]["baseData"]["metrics"][0]["value"]
            for item in application_insights.received("MetricData")
            if accepted(item)
        )
        return total if total >= 3 else None

    assert wait_for_value(counted, "the three requests counted in Application Insights") == 3
    time.sleep(1.5)  # three more exports: a count that did not move is not sent again
    assert counted() == 3


def test_application_insights_is_told_the_rate_each_kept_item_stands_for(
    ingestion: Callable[[dict[str, str]], Service], application_insights: ApplicationInsights
) -> None:
    """One trace in two kept, as the operator sets it: each kept request and its publish say they stand for two, so
    Application Insights counts them twice; a caller's sampled trace is kept whatever the ratio says."""
    service = ingestion(
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": application_insights.connection_string,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.5",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
    )
    requests = 40
    last = "4bf92f3577b34da6a3ce929d0e0e4736"
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for index in range(requests):
            assert client.post("/v1/deliveryrequests", json=delivery_body(index)).status_code == 202
        traced = {"traceparent": f"00-{last}-00f067aa0ba902b7-01"}
        assert client.post("/v1/deliveryrequests", json=delivery_body(requests), headers=traced).status_code == 202

    def items() -> list[dict[str, Any]] | None:
        found = [*application_insights.received("RequestData"), *application_insights.received("RemoteDependencyData")]
        # Batches may arrive out of order on a busy machine: wait for the last request's pair and every kept pair.
        per_operation = Counter(item["tags"]["ai.operation.id"] for item in found)
        return found if per_operation[last] == 2 and set(per_operation.values()) == {2} else None

    found = wait_for_value(items, "every kept request with its publish in Application Insights, the caller's too")
    assert {item.get("sampleRate") for item in found} == {50.0}
    operations = Counter(item["tags"]["ai.operation.id"] for item in found if item["tags"]["ai.operation.id"] != last)
    print(f"\none trace in two: {len(operations)} of {requests} requests kept")
    assert set(operations.values()) == {2}  # each kept request with its publish
    assert 0 < len(operations) < requests


def test_what_is_still_in_the_process_at_its_stop_is_sent_before_it_exits(
    ingestion: Callable[[dict[str, str]], Service],
) -> None:
    receiver = OtlpReceiver()
    receiver.start()
    try:
        service = ingestion(
            {
                "FABRIKAM_OTLP_ENDPOINT": receiver.url,
                "FABRIKAM_TELEMETRY_EXPORT_INTERVAL_SECONDS": "3600",
                "OTEL_BSP_SCHEDULE_DELAY": "3600000",  # nothing leaves before the stop
            }
        )
        trace_id = "0af7651916cd43dd8448eb211c80319c"
        headers = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
        accepted = httpx.post(f"{service.url}/v1/deliveryrequests", json=delivery_body(1), headers=headers, timeout=10)
        assert accepted.status_code == 202
        assert (receiver.spans(), receiver.points()) == ([], [])
        service.process.stop()
        spans = {span.name for span in receiver.spans() if span.trace_id == trace_id}
        counted = [
            point.value
            for point in receiver.points()
            if point.metric == "fabrikam_http_requests_total" and point.attributes.get("status") == "202"
        ]
    finally:
        receiver.stop()
    assert spans == {"POST /v1/deliveryrequests", "delivery-requests publish"}
    assert counted == [1]


EXPORT_TIMEOUT = 1.0


@pytest.mark.parametrize("destination", ["otlp", "azure-monitor"])
@pytest.mark.parametrize("collector", ["silent", "refusing"])
def test_a_destination_that_is_down_delays_no_start_no_request_and_no_stop_beyond_the_export_timeout(
    ingestion: Callable[[dict[str, str]], Service], destination: str, collector: str, silent_port: int, closed_port: int
) -> None:
    port = silent_port if collector == "silent" else closed_port
    address = {
        "otlp": {"FABRIKAM_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"},
        "azure-monitor": {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
            )
        },
    }[destination]
    starting = time.monotonic()
    service = ingestion(
        {
            **address,
            "FABRIKAM_TELEMETRY_TIMEOUT_SECONDS": str(EXPORT_TIMEOUT),
            "FABRIKAM_TELEMETRY_EXPORT_INTERVAL_SECONDS": "0.5",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
    )
    ready_in = time.monotonic() - starting
    slowest = 0.0
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for index in range(100):  # sampled, so every request's spans wait for the exporter
            sent = time.monotonic()
            headers = {"traceparent": f"00-{index + 1:032x}-00f067aa0ba902b7-01"}
            assert client.post("/v1/deliveryrequests", json=delivery_body(1), headers=headers).status_code == 202
            slowest = max(slowest, time.monotonic() - sent)
    stopping = time.monotonic()
    service.process.stop()
    stopped_in = time.monotonic() - stopping
    log = service.log_path.read_text()
    took = f"ready in {ready_in:.2f} s, slowest request {slowest * 1000:.0f} ms, stopped in {stopped_in:.2f} s"
    print(f"\n{destination} {collector}: {took}")
    assert ready_in < 20, log
    assert slowest < 0.5  # no request waits on an export
    assert stopped_in < 1 + EXPORT_TIMEOUT + 3, log  # grace, export timeout, a loaded machine's slack

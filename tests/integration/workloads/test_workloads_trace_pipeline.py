"""A delivery's trace crosses the queues, and the dashboards' metrics show what the traffic did.

The eight services run as processes (`fabrikam services up`'s stack) with OTLP pointed at a real OTLP/HTTP
receiver. Deliveries are requested, one of them by a caller with a sampled traceparent, and flow ingestion →
workflow → package, scheduler, delivery → notification. Every span of that delivery's messages must carry the
caller's trace id, every span's parent must be in the trace (no hop starts a trace of its own), and each
service's `/metrics` and its OTLP export must show the traffic.
"""

import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fabrikam.devcluster.localstack import ALL_SERVICES, Stack, seed_fleet

from .otlp_receiver import OtlpReceiver, ReceivedSpan

DELIVERIES = 5
DRONES = 8
# The services on a delivery's way from its request to the customer's notification.
ON_THE_WAY = ("ingestion", "workflow", "package", "scheduler", "delivery", "notification")
T = TypeVar("T")


def eventually(check: Callable[[], T | None], what: str, within: float = 30.0) -> T:
    deadline = time.monotonic() + within
    while (result := check()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        time.sleep(0.2)
    return result


def delivery_body(index: int) -> dict[str, Any]:
    return {
        "owner": "owner-1",
        "pickup": {"latitude": 47.606 + index * 0.001, "longitude": -122.332, "address": f"{index} Pike St"},
        "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "package": {"size": "small", "weightKg": 1.0, "tag": f"tag-{index}"},
    }


@dataclass(frozen=True)
class Traffic:
    stack: Stack
    receiver: OtlpReceiver
    trace_id: str
    client_span_id: str
    traced: str  # the delivery requested with the traceparent
    deliveries: list[str]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    receiver = OtlpReceiver()
    receiver.start()
    env = {
        "FABRIKAM_TELEMETRY": "otlp",
        "FABRIKAM_OTLP_ENDPOINT": receiver.url,
        "FABRIKAM_TELEMETRY_EXPORT_INTERVAL_SECONDS": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans leave within 0.2 s instead of 5 s
        "FABRIKAM_LOCK_SECONDS": "2",
        "FABRIKAM_SHUTDOWN_GRACE_SECONDS": "2",
    }
    stack = Stack(Path(tmp_path_factory.mktemp("trace")), extra_env=env, services=ALL_SERVICES)
    trace_id, client_span_id = secrets.token_hex(16), secrets.token_hex(8)
    try:
        stack.start()
        assert stack.mail is not None, "aiosmtpd (a dev dependency) is needed for the notifications"
        urls = stack.urls()
        seed_fleet(urls["scheduler"], DRONES)
        traced_headers = {"traceparent": f"00-{trace_id}-{client_span_id}-01"}
        deliveries = []
        with httpx.Client(timeout=10) as client:
            for index in range(DELIVERIES):
                headers = traced_headers if index == 0 else {}
                accepted = client.post(
                    f"{urls['ingestion']}/v1/deliveryrequests", json=delivery_body(index), headers=headers
                )
                assert accepted.status_code == 202, accepted.text
                delivery_id = accepted.json()["deliveryId"]
                deliveries.append(delivery_id)
                subscribed = client.post(
                    f"{urls['notification']}/v1/deliveries/{delivery_id}/notify-me",
                    json={"email": f"customer-{index}@example.com"},
                    headers=headers,  # the customer's app, still in its trace
                )
                assert subscribed.status_code == 202, subscribed.text

            def notified() -> bool | None:
                for delivery_id in deliveries:
                    sent = client.get(f"{urls['notification']}/v1/deliveries/{delivery_id}/notifications").json()
                    if not any(entry["stage"] == "scheduled" and entry["outcome"] == "sent" for entry in sent):
                        return None
                return True

            eventually(notified, "every customer told that a drone is assigned", within=60)
        yield Traffic(stack, receiver, trace_id, client_span_id, deliveries[0], deliveries)
    finally:
        stack.stop()
        receiver.stop()


def describe(spans: list[ReceivedSpan]) -> str:
    by_service: dict[str, list[str]] = defaultdict(list)
    for span in spans:
        by_service[span.service].append(f"{span.name} ({span.kind})")
    return "\n".join(f"  {service}: {', '.join(sorted(names))}" for service, names in sorted(by_service.items()))


def test_one_trace_id_from_the_request_to_the_notification(traffic: Traffic) -> None:
    def complete_trace() -> list[ReceivedSpan] | None:
        spans = [span for span in traffic.receiver.spans() if span.trace_id == traffic.trace_id]
        services = {span.service.removeprefix("fabrikam-") for span in spans}
        notified = any(
            span.service == "fabrikam-notification"
            and span.attributes.get("messaging.message.id", "").endswith(":scheduled")
            for span in spans
        )
        return spans if set(ON_THE_WAY) <= services and notified else None

    trace = eventually(complete_trace, "spans of every service on the way, in the caller's trace")
    print(f"\ntrace {traffic.trace_id}: {len(trace)} spans\n{describe(trace)}")

    # Every message of this delivery, wherever it was handled, continued the caller's trace.
    about_it = [
        span
        for span in traffic.receiver.spans()
        if traffic.traced in str(span.attributes.get("messaging.message.id", ""))
    ]
    elsewhere = [span for span in about_it if span.trace_id != traffic.trace_id]
    assert elsewhere == [], f"hops that started a trace of their own:\n{describe(elsewhere)}"
    handled = {span.attributes["messaging.message.id"].split(":")[0] for span in about_it}
    assert {"DeliveryRequested", "CreatePackage", "AssignDrone", "ScheduleDelivery", "DeliveryStageChanged"} <= handled

    # And the trace is one tree: each span's parent is in it, up to the caller's own span.
    ids = {span.span_id for span in trace} | {traffic.client_span_id}
    orphans = [span for span in trace if span.parent_id not in ids]
    assert orphans == [], f"spans whose parent is not in the trace:\n{describe(orphans)}"
    roots = [span for span in trace if span.parent_id == traffic.client_span_id]
    assert {span.service for span in roots} == {"fabrikam-ingestion", "fabrikam-notification"}  # the two requests


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_each_service_shows_the_traffic_on_metrics_and_pushes_the_same_over_otlp(traffic: Traffic) -> None:
    urls = traffic.stack.urls()
    ingestion = scrape(urls["ingestion"])
    route = {"service": "ingestion", "route": "/v1/deliveryrequests"}
    assert value(ingestion, "fabrikam_http_requests_total", method="POST", status="202", **route) == DELIVERIES
    assert value(ingestion, "fabrikam_http_request_seconds_count", **route) == DELIVERIES
    assert value(
        ingestion, "fabrikam_messages_published_total", queue="delivery-requests", type="DeliveryRequested"
    ) == (DELIVERIES)

    delivery = scrape(urls["delivery"])
    assert value(delivery, "fabrikam_delivery_stage_transitions_total", stage="scheduled") == DELIVERIES

    notification = scrape(urls["notification"])
    assert value(notification, "fabrikam_notifications_total", channel="email", outcome="sent") == DELIVERIES

    def fleet() -> tuple[float | None, float | None] | None:  # sampled every 5 s
        scheduler = scrape(urls["scheduler"])
        counts = (
            value(scheduler, "fabrikam_drones", status="assigned"),
            value(scheduler, "fabrikam_drones", status="available"),
        )
        return counts if counts == (DELIVERIES, DRONES - DELIVERIES) else None

    eventually(fleet, f"{DELIVERIES} drones assigned, {DRONES - DELIVERIES} available", within=15)

    consumers = {
        "workflow": ("delivery-requests", "workflow-events"),
        "package": ("package-commands",),
        "scheduler": ("scheduler-commands",),
        "delivery": ("delivery-commands", "delivery-telemetry"),
        "notification": ("notification-events",),
    }

    def queues_drained() -> dict[str, dict[str, float | None]] | None:
        seen = {}
        for service, queues in consumers.items():
            samples = scrape(urls[service])
            for queue in queues:
                seen[queue] = {
                    "waiting": value(samples, "fabrikam_queue_messages", queue=queue, state="waiting"),
                    "in_flight": value(samples, "fabrikam_queue_messages", queue=queue, state="in_flight"),
                    "age": value(samples, "fabrikam_queue_oldest_message_age_seconds", queue=queue),
                    "dead": value(samples, "fabrikam_queue_dead_letters", queue=queue),
                    "busy": value(samples, "fabrikam_handlers_in_flight", service=service, queue=queue),
                    "limit": value(samples, "fabrikam_handlers_limit", service=service, queue=queue),
                }
        expected = {"waiting": 0, "in_flight": 0, "age": 0, "dead": 0, "busy": 0, "limit": 32}
        return seen if all(gauges == expected for gauges in seen.values()) else None

    eventually(queues_drained, "every queue sampled empty by its consumer", within=20)

    for service, url in urls.items():
        samples = scrape(url)
        size = value(samples, "fabrikam_redis_pool_size")
        in_use, idle = (value(samples, "fabrikam_redis_pool_connections", state=state) for state in ("in_use", "idle"))
        assert size == 64, service
        assert in_use is not None, service
        assert idle is not None, service
        assert 1 <= in_use + idle <= 64, (service, in_use, idle)

    def pushed() -> dict[str, float] | None:
        latest: dict[tuple[str, str, frozenset[tuple[str, str]]], float] = {}
        for point in traffic.receiver.points():
            latest[(point.service, point.metric, frozenset(point.attributes.items()))] = point.value
        found = {
            "transitions": latest.get(
                ("fabrikam-delivery", "fabrikam_delivery_stage_transitions_total", frozenset({("stage", "scheduled")}))
            ),
            "notifications": latest.get(
                (
                    "fabrikam-notification",
                    "fabrikam_notifications_total",
                    frozenset({("channel", "email"), ("outcome", "sent")}),
                )
            ),
            "assigned": latest.get(("fabrikam-scheduler", "fabrikam_drones", frozenset({("status", "assigned")}))),
        }
        services = {service for service, metric, _ in latest if metric == "fabrikam_http_requests_total"}
        complete = services == {f"fabrikam-{name}" for name in ALL_SERVICES}
        return found if complete and found == dict.fromkeys(found, DELIVERIES) else None

    eventually(pushed, "the same values pushed over OTLP by every service", within=20)

"""A delivery's trace crosses the queues and is kept or dropped whole; a drone's report owns the stage changes it
causes; and the dashboards' metrics show what the traffic did.

The eight services run as processes (`fabrikam services up`'s stack) with OTLP pointed at a real OTLP/HTTP
receiver, keeping one new trace in two (OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.5,
as the operator sets them). Deliveries are requested, one of them by a caller with a sampled traceparent, and flow
ingestion → workflow → package, scheduler, delivery → notification. Every span of that delivery's messages must
carry the caller's trace id, and every span's parent must be in the trace (no hop starts a trace of its own). Each
of the other deliveries is traced whole, or not at all: never in part. Then the drone of the traced delivery flies
it, one report at a time, each report in a sampled trace of its own: every stage change is a span of the report's
trace, linked to the span that scheduled the delivery, and what it causes (the customer's notification, the drone's
release) follows in the report's trace. A report whose trace its sender dropped leaves no span anywhere, though the
stage change happens. Each service's `/metrics` and its OTLP export must show the traffic. With a ratio of 0,
nothing is traced at all.
"""

import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fabrikam.devcluster.localstack import ALL_SERVICES, Stack, seed_fleet

from ...conftest import delivery_body, wait_for_value
from .otlp_receiver import OtlpReceiver, ReceivedSpan

DELIVERIES = 16
DRONES = 20
# The services on a delivery's way from its request to the customer's notification.
ON_THE_WAY = ("ingestion", "workflow", "package", "scheduler", "delivery", "notification")
# The spans of a delivery request's trace, at least: the request, its publish, and each message of the saga up to
# the notification of the `scheduled` stage (package created, drone assigned, delivery scheduled come back to the
# workflow).
REQUEST_TRACE = Counter(
    {
        ("fabrikam-ingestion", "POST /v1/deliveryrequests"): 1,
        ("fabrikam-ingestion", "delivery-requests publish"): 1,
        ("fabrikam-workflow", "delivery-requests process"): 1,
        ("fabrikam-workflow", "workflow-events process"): 3,
        ("fabrikam-package", "package-commands process"): 1,
        ("fabrikam-scheduler", "scheduler-commands process"): 1,
        ("fabrikam-delivery", "delivery-commands process"): 1,
        ("fabrikam-notification", "notification-events process"): 1,
    }
)
# E-mails beyond one `scheduled` per delivery: the three stage changes of the flown delivery, and the departure
# reported in a dropped trace.
DRONE_DRIVEN_EMAILS = 4


def trace_id_the_ratio_would(*, keep: bool) -> str:
    """A trace id that a one-in-two trace-id ratio sampler keeps, or drops, by itself (it compares the id's lower 64
    bits with half their range): a trace with such an id that goes the other way was decided by its sampled flag."""
    return secrets.token_hex(8) + ("0" if keep else "f") + secrets.token_hex(8)[:15]


def message_id(span: ReceivedSpan) -> str:
    return str(span.attributes.get("messaging.message.id", ""))


@dataclass
class Report:
    """A drone's position, sent in a trace of its own, and what the stage change it causes announces. The ratio alone
    would decide the trace's fate the other way: only the sampled flag can have decided it."""

    change: str  # the tracking event: departed, picked_up, completed
    announced: frozenset[str]  # the ids of the messages announcing the change
    sampled: bool = True
    trace_id: str = field(init=False)
    client_span_id: str = field(init=False, default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.trace_id = trace_id_the_ratio_would(keep=not self.sampled)

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.client_span_id}-{'01' if self.sampled else '00'}"


def stage_changed(delivery_id: str, stage: str) -> str:
    return f"DeliveryStageChanged:{delivery_id}:{stage}"


def report(
    client: httpx.Client, urls: dict[str, str], delivery_id: str, where: str, change: str, headers: dict[str, str]
) -> None:
    """The position of the delivery's drone at its pickup, its drop-off, or a kilometre from the pickup (`where`),
    sent with `headers`; returns once the delivery has taken the stage `change` (a tracking event's kind)."""
    tracked = client.get(f"{urls['delivery']}/v1/deliveries/{delivery_id}").json()
    place = tracked["dropoff"] if where == "dropoff" else tracked["pickup"]
    position = {
        "droneId": tracked["droneId"],
        "latitude": place["latitude"] + (0.01 if where == "away" else 0.0),
        "longitude": place["longitude"],
        "altitudeM": 120.0,
        "battery": 80.0,
        "speedMps": 15.0,
        "flightMode": "cruise",
        "reportedAt": datetime.now(UTC).isoformat(),
    }
    accepted = client.post(
        f"{urls['drone-telemetry']}/v1/telemetry",
        json={"reports": [position]},
        headers=headers,
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["published"] == 1

    def taken() -> int | None:
        events = client.get(f"{urls['delivery']}/v1/deliveries/{delivery_id}/events").json()
        return len(events) if any(event["kind"] == change for event in events) else None

    wait_for_value(taken, f"delivery {delivery_id} {change}")


def request_deliveries(
    client: httpx.Client, urls: dict[str, str], traced: dict[str, str], count: int = DELIVERIES
) -> list[str]:
    """`count` deliveries, each with a customer subscribed, the first one's requests with the `traced` headers;
    returns once every customer was told of the `scheduled` stage."""
    deliveries = []
    for index in range(count):
        headers = traced if index == 0 else {}
        accepted = client.post(f"{urls['ingestion']}/v1/deliveryrequests", json=delivery_body(index), headers=headers)
        assert accepted.status_code == 202, accepted.text
        deliveries.append(accepted.json()["deliveryId"])
        subscribed = client.post(
            f"{urls['notification']}/v1/deliveries/{deliveries[-1]}/notify-me",
            json={"email": f"customer-{index}@example.com"},
            headers=headers,  # the customer's app, still in its trace
        )
        assert subscribed.status_code == 202, subscribed.text
    for delivery_id in deliveries:
        told(client, urls, delivery_id, "scheduled")
    return deliveries


def told(client: httpx.Client, urls: dict[str, str], delivery_id: str, stage: str) -> None:
    def sent() -> bool | None:
        entries = client.get(f"{urls['notification']}/v1/deliveries/{delivery_id}/notifications").json()
        return True if any(e["stage"] == stage and e["outcome"] == "sent" for e in entries) else None

    wait_for_value(sent, f"the customer of {delivery_id} told of {stage}", timeout=60)


def telemetry_env(receiver: OtlpReceiver, ratio: float) -> dict[str, str]:
    return {
        "FABRIKAM_TELEMETRY": "otlp",
        "FABRIKAM_OTLP_ENDPOINT": receiver.url,
        "FABRIKAM_TELEMETRY_EXPORT_INTERVAL_SECONDS": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans leave within 0.2 s instead of 5 s
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}",
        "FABRIKAM_LOCK_SECONDS": "2",
        "FABRIKAM_SHUTDOWN_GRACE_SECONDS": "2",
    }


@dataclass(frozen=True)
class Traffic:
    stack: Stack
    receiver: OtlpReceiver
    trace_id: str
    client_span_id: str
    traced: str  # the delivery requested with the traceparent, which its drone then flew
    deliveries: list[str]
    flight: list[Report]  # the traced delivery's drone's reports, each in a sampled trace of its own
    dropped: Report  # the departure of deliveries[1], in a trace its sender dropped


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    receiver = OtlpReceiver()
    receiver.start()
    stack = Stack(Path(tmp_path_factory.mktemp("trace")), extra_env=telemetry_env(receiver, 0.5), services=ALL_SERVICES)
    trace_id, client_span_id = trace_id_the_ratio_would(keep=False), secrets.token_hex(8)
    try:
        stack.start()
        assert stack.mail is not None, "aiosmtpd (a dev dependency) is needed for the notifications"
        urls = stack.urls()
        seed_fleet(urls["scheduler"], DRONES)
        with httpx.Client(timeout=10) as client:
            deliveries = request_deliveries(client, urls, {"traceparent": f"00-{trace_id}-{client_span_id}-01"})
            traced, other = deliveries[0], deliveries[1]
            dropped = Report("departed", frozenset({stage_changed(other, "headed_to_pickup")}), sampled=False)
            report(client, urls, other, "away", dropped.change, {"traceparent": dropped.traceparent})
            flight = [
                Report("departed", frozenset({stage_changed(traced, "headed_to_pickup")})),
                Report("picked_up", frozenset({stage_changed(traced, "headed_to_dropoff")})),
                Report("completed", frozenset({stage_changed(traced, "completed"), f"DeliveryCompleted:{traced}"})),
            ]
            for sent, where in zip(flight, ("away", "pickup", "dropoff"), strict=True):
                report(client, urls, traced, where, sent.change, {"traceparent": sent.traceparent})
            for delivery_id, stage in ((other, "headed_to_pickup"), (traced, "completed")):
                told(client, urls, delivery_id, stage)
        yield Traffic(stack, receiver, trace_id, client_span_id, traced, deliveries, flight, dropped)
    finally:
        stack.stop()
        receiver.stop()


def describe(spans: list[ReceivedSpan]) -> str:
    by_service: dict[str, list[str]] = defaultdict(list)
    for span in spans:
        by_service[span.service].append(f"{span.name} ({span.kind})")
    return "\n".join(f"  {service}: {', '.join(sorted(names))}" for service, names in sorted(by_service.items()))


def orphans(trace: list[ReceivedSpan], *outside: str) -> list[ReceivedSpan]:
    """The spans whose parent is neither in the trace nor one of the `outside` span ids (the caller's)."""
    ids = {span.span_id for span in trace} | set(outside)
    return [span for span in trace if span.parent_id not in ids]


def test_one_trace_id_from_the_request_to_the_notification(traffic: Traffic) -> None:
    def complete_trace() -> list[ReceivedSpan] | None:
        spans = [span for span in traffic.receiver.spans() if span.trace_id == traffic.trace_id]
        services = {span.service.removeprefix("fabrikam-") for span in spans}
        notified = any(
            span.service == "fabrikam-notification" and message_id(span).endswith(":scheduled") for span in spans
        )
        return spans if set(ON_THE_WAY) <= services and notified else None

    trace = wait_for_value(complete_trace, "spans of every service on the way, in the caller's trace")
    print(f"\ntrace {traffic.trace_id}: {len(trace)} spans\n{describe(trace)}")

    # Every message of the request's way, wherever it was handled, continued the caller's trace (what the drone's
    # reports caused later is theirs: the next test).
    reports = {sent.trace_id for sent in traffic.flight}
    about_it = [
        span for span in traffic.receiver.spans() if traffic.traced in message_id(span) and span.trace_id not in reports
    ]
    elsewhere = [span for span in about_it if span.trace_id != traffic.trace_id]
    assert elsewhere == [], f"hops that started a trace of their own:\n{describe(elsewhere)}"
    handled = {message_id(span).split(":")[0] for span in about_it}
    assert {"DeliveryRequested", "CreatePackage", "AssignDrone", "ScheduleDelivery", "DeliveryStageChanged"} <= handled

    # And the trace is one tree: each span's parent is in it, up to the caller's own span.
    assert orphans(trace, traffic.client_span_id) == [], "spans whose parent is not in the trace"
    roots = [span for span in trace if span.parent_id == traffic.client_span_id]
    assert {span.service for span in roots} == {"fabrikam-ingestion", "fabrikam-notification"}  # the two requests


def verdict(spans: list[ReceivedSpan], delivery_id: str) -> str:
    """`complete` when the delivery's request has a whole trace, `absent` when none of it was traced, else
    `partial`. A late subscriber's notice (`…:for:<subscription>`) is the subscription's, not the request's."""
    traces = {span.trace_id for span in spans if delivery_id in message_id(span) and ":for:" not in message_id(span)}
    if not traces:
        return "absent"
    if len(traces) > 1:
        return "partial"
    trace = [span for span in spans if span.trace_id in traces]
    missing = REQUEST_TRACE - Counter((span.service, span.name) for span in trace)
    roots = [span for span in trace if not span.parent_id]
    whole = not missing and not orphans(trace, "") and [span.name for span in roots] == ["POST /v1/deliveryrequests"]
    return "complete" if whole else "partial"


def test_each_delivery_is_traced_whole_or_not_at_all(traffic: Traffic) -> None:
    by_ratio = traffic.deliveries[1:]  # requested without a trace context: the ratio decides

    def settled() -> dict[str, str] | None:
        verdicts = {delivery_id: verdict(traffic.receiver.spans(), delivery_id) for delivery_id in by_ratio}
        return verdicts if "partial" not in verdicts.values() else None

    wait_for_value(settled, "each delivery's trace complete or absent", timeout=20)
    time.sleep(1.0)  # five export intervals: a span still on its way would leave a trace partial
    spans = traffic.receiver.spans()
    counts = Counter(verdict(spans, delivery_id) for delivery_id in by_ratio)
    print(f"\none trace kept in two, over {len(by_ratio)} deliveries: {dict(counts)}")
    assert counts["partial"] == 0
    assert 0 < counts["complete"] < len(by_ratio)  # all or none: 2 chances in 2^15
    # The requests of the deliveries that were not traced left no span either: one request span per kept trace.
    requests = [s for s in spans if s.name == "POST /v1/deliveryrequests" and s.trace_id != traffic.trace_id]
    assert len(requests) == counts["complete"]


def test_a_drone_report_owns_the_stage_changes_it_causes_linked_to_the_delivery(traffic: Traffic) -> None:
    scheduled_by = wait_for_value(
        lambda: next(
            (s for s in traffic.receiver.spans() if message_id(s) == f"ScheduleDelivery:{traffic.traced}"), None
        ),
        "the span that scheduled the delivery",
    )
    assert scheduled_by.trace_id == traffic.trace_id
    for sent in traffic.flight:
        released = {f"ReleaseDrone:{traffic.traced}"} if sent.change == "completed" else set()

        def caused(sent: Report = sent, released: set[str] = released) -> list[ReceivedSpan] | None:
            trace = [span for span in traffic.receiver.spans() if span.trace_id == sent.trace_id]
            handled = {message_id(span) for span in trace}
            changes = [span for span in trace if span.name == f"delivery {sent.change}"]
            return trace if changes and sent.announced | released <= handled else None

        trace = wait_for_value(caused, f"the spans of the {sent.change} report")
        print(f"\nreport {sent.change}, trace {sent.trace_id}:\n{describe(trace)}")
        by_id = {span.span_id: span for span in trace}
        [change] = [span for span in trace if span.name == f"delivery {sent.change}"]
        # In the report's trace, under delivery's handling of the position, linked to the delivery's scheduling.
        handling = by_id[change.parent_id]
        assert (handling.service, handling.name) == ("fabrikam-delivery", "delivery-telemetry process")
        assert change.links == ((traffic.trace_id, scheduled_by.span_id),)
        assert change.attributes["delivery.id"] == traffic.traced
        # What the change announces hangs under it; the drone's release follows the completion.
        announcing = [span for span in trace if message_id(span) in sent.announced]
        assert {message_id(span) for span in announcing} == sent.announced
        assert {span.parent_id for span in announcing} == {change.span_id}
        assert orphans(trace, sent.client_span_id) == [], "spans whose parent is not in the report's trace"

    # Nothing a report caused went into the trace of the delivery's request.
    caused_by_reports = {message for sent in traffic.flight for message in sent.announced}
    in_request = [
        span
        for span in traffic.receiver.spans()
        if span.trace_id == traffic.trace_id and message_id(span) in caused_by_reports
    ]
    assert in_request == [], describe(in_request)


def test_a_report_whose_trace_was_dropped_leaves_no_span_though_its_stage_change_happens(traffic: Traffic) -> None:
    # The fixture waited for the customer's e-mail about that change; the flight's spans came long after it.
    spans = traffic.receiver.spans()
    assert [span for span in spans if span.trace_id == traffic.dropped.trace_id] == []
    assert [span for span in spans if message_id(span) in traffic.dropped.announced] == []


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
    emails = DELIVERIES + DRONE_DRIVEN_EMAILS
    assigned = DELIVERIES - 1  # the flown delivery's drone is free again
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
    assert value(notification, "fabrikam_notifications_total", channel="email", outcome="sent") == emails

    def fleet() -> tuple[float | None, float | None] | None:  # sampled every 5 s
        scheduler = scrape(urls["scheduler"])
        counts = (
            value(scheduler, "fabrikam_drones", status="assigned"),
            value(scheduler, "fabrikam_drones", status="available"),
        )
        return counts if counts == (assigned, DRONES - assigned) else None

    wait_for_value(fleet, f"{assigned} drones assigned, {DRONES - assigned} available", timeout=15)

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

    wait_for_value(queues_drained, "every queue sampled empty by its consumer", timeout=20)

    for service, url in urls.items():
        samples = scrape(url)
        size = value(samples, "fabrikam_redis_pool_size")
        in_use, idle = (value(samples, "fabrikam_redis_pool_connections", state=state) for state in ("in_use", "idle"))
        assert size == 64, service
        assert in_use is not None, service
        assert idle is not None, service
        assert 1 <= in_use + idle <= 64, (service, in_use, idle)

    expected = {"transitions": DELIVERIES, "notifications": emails, "assigned": assigned}

    def pushed() -> dict[str, float | None] | None:
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
        return found if complete and found == expected else None

    wait_for_value(pushed, "the same values pushed over OTLP by every service", timeout=20)


def test_with_a_ratio_of_0_nothing_is_traced(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Deliveries, their notifications and a drone's report go through every service, and every service pushes its
    metrics: not one span."""
    receiver = OtlpReceiver()
    receiver.start()
    directory = Path(tmp_path_factory.mktemp("untraced"))
    stack = Stack(directory, extra_env=telemetry_env(receiver, 0), services=ALL_SERVICES)
    count = 3
    try:
        stack.start()
        urls = stack.urls()
        seed_fleet(urls["scheduler"], count)
        with httpx.Client(timeout=10) as client:
            deliveries = request_deliveries(client, urls, {}, count)
            report(client, urls, deliveries[0], "away", "departed", {})
            told(client, urls, deliveries[0], "headed_to_pickup")

        def pushed_after_the_traffic() -> dict[str, float] | None:
            latest = {
                (point.service, point.metric, point.attributes.get("stage", "")): point.value
                for point in receiver.points()
            }
            found = {
                "departures": latest.get(
                    ("fabrikam-delivery", "fabrikam_delivery_stage_transitions_total", "headed_to_pickup")
                ),
                "services": len({service for service, metric, _ in latest if metric == "fabrikam_http_requests_total"}),
            }
            return found if found == {"departures": 1, "services": len(ALL_SERVICES)} else None

        wait_for_value(pushed_after_the_traffic, "every service's metrics, the departure's among them", timeout=20)
        time.sleep(1.0)  # five span export intervals after the last handler
        assert receiver.spans() == []
    finally:
        stack.stop()
        receiver.stop()

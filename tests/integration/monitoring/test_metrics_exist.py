"""Every metric the operator's alerts and dashboards query is one the services really expose.

The eight services run as processes (`fabrikam services up`'s stack) and deliveries flow through them, up to the
customer's notification, so their labelled series exist. Each service's `/metrics` is scraped, and every metric name
a rendered rule or dashboard selects must be among them, with every label it is selected or grouped by (the
scraper adds `namespace` and `pod`); the metrics of the SLO rules must be exposed by every service.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fabrikam.devcluster.localstack import ALL_SERVICES, Stack, seed_fleet
from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.dashboards import platform_dashboard, service_dashboard
from fabrikam.operator.render.monitoring import rule_groups

from ...conftest import delivery_body, wait_for_value

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"
DELIVERIES = 3
DRONES = 5
# Labels the scraper puts on every series (a PodMonitor or the prometheus.io annotations), not the services.
TARGET_LABELS = {"namespace", "pod"}
Exposed = dict[str, set[str]]  # metric sample name -> the label names its series carry


def _scrape(url: str) -> Exposed:
    exposed: Exposed = defaultdict(set)
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            exposed[sample.name] |= set(sample.labels)
    return dict(exposed)


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Exposed]]:
    """Each service's metrics after deliveries went through all of them, up to an e-mail to the customer."""
    env = {"FABRIKAM_LOCK_SECONDS": "2", "FABRIKAM_SHUTDOWN_GRACE_SECONDS": "2"}
    stack = Stack(Path(tmp_path_factory.mktemp("stack")), extra_env=env, services=ALL_SERVICES)
    try:
        stack.start()
        assert stack.mail is not None, "aiosmtpd (a dev dependency) is needed for the notifications"
        urls = stack.urls()
        seed_fleet(urls["scheduler"], DRONES)
        with httpx.Client(timeout=10) as client:
            deliveries = []
            for index in range(DELIVERIES):
                accepted = client.post(f"{urls['ingestion']}/v1/deliveryrequests", json=delivery_body(index))
                assert accepted.status_code == 202, accepted.text
                deliveries.append(accepted.json()["deliveryId"])
                subscribed = client.post(
                    f"{urls['notification']}/v1/deliveries/{deliveries[-1]}/notify-me",
                    json={"email": f"customer-{index}@example.com"},
                )
                assert subscribed.status_code == 202, subscribed.text

            def notified() -> bool | None:
                for delivery_id in deliveries:
                    sent = client.get(f"{urls['notification']}/v1/deliveries/{delivery_id}/notifications").json()
                    if not any(entry["outcome"] == "sent" for entry in sent):
                        return None
                return True

            wait_for_value(notified, "every customer told of a stage of the delivery", timeout=60, interval=0.5)
        time.sleep(6)  # the consumers sample their queues and the scheduler its fleet every few seconds
        yield {name: _scrape(url) for name, url in urls.items()}
    finally:
        stack.stop()


def _platform() -> DeliveryPlatform:
    return DeliveryPlatform.model_validate(yaml.safe_load((SAMPLES / "platform.yaml").read_text()))


def _services(platform: DeliveryPlatform) -> list[DroneService]:
    custom = DroneService.model_validate(yaml.safe_load((SAMPLES / "team-service.yaml").read_text()))
    return [*bundled_services(platform), custom]


def _rule_queries(platform: DeliveryPlatform) -> list[str]:
    return [
        rule["expr"] for svc in _services(platform) for group in rule_groups(svc, platform) for rule in group["rules"]
    ]


def _dashboard_queries(platform: DeliveryPlatform) -> list[str]:
    boards = [platform_dashboard(platform)] + [
        service_dashboard(svc, platform=platform, labels={}, owners=[]) for svc in _services(platform)
    ]
    queries = []
    for config_map in boards:
        for text in config_map["data"].values():
            for panel in yaml.safe_load(text)["panels"]:
                queries += [target["expr"] for target in panel.get("targets", [])]
    return queries


def _recorded(platform: DeliveryPlatform) -> set[str]:
    """Names the rules record: defined by them, not by the services."""
    return {
        rule["record"]
        for svc in _services(platform)
        for group in rule_groups(svc, platform)
        for rule in group["rules"]
        if "record" in rule
    }


def selected(queries: list[str]) -> dict[str, set[str]]:
    """Metric name -> the labels a query selects or groups it by (in the same aggregation)."""
    found: dict[str, set[str]] = defaultdict(set)
    for query in queries:
        for grouping, name, matchers in re.findall(
            r"(?:by \(([\w, ]+)\) \(\s*(?:rate|increase)?\(?)?([a-zA-Z_][\w:]*)\{([^}]*)\}", query
        ):
            found[name] |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
            found[name] |= {label.strip() for label in grouping.split(",") if label.strip()}
    return dict(found)


def _missing(wanted: dict[str, set[str]], exposed: Exposed) -> dict[str, str]:
    problems = {}
    for name, labels in sorted(wanted.items()):
        if name not in exposed:
            problems[name] = "not exposed"
        elif absent := labels - TARGET_LABELS - exposed[name]:
            problems[name] = f"exposed without the labels {sorted(absent)} (has {sorted(exposed[name])})"
    return problems


def test_the_queries_name_the_metrics_they_select() -> None:
    """The parser below sees what Prometheus would: names, matchers, and the labels an aggregation groups by."""
    assert selected(['sum by (queue, state) (rate(x_total{namespace="a", service!="b", le="0.25"}[5m]))']) == {
        "x_total": {"queue", "state", "namespace", "service", "le"}
    }
    assert selected(['max by (status) (fabrikam_drones{namespace=~"a|b"})']) == {
        "fabrikam_drones": {"status", "namespace"}
    }


def test_every_service_exposes_what_its_slo_rules_select(exposed: dict[str, Exposed]) -> None:
    platform = _platform()
    wanted = {k: v for k, v in selected(_rule_queries(platform)).items() if k not in _recorded(platform)}
    assert set(wanted) == {
        "fabrikam_http_requests_total",
        "fabrikam_http_request_seconds_bucket",
        "fabrikam_http_request_seconds_count",
    }
    problems = {service: _missing(wanted, metrics) for service, metrics in exposed.items()}
    assert {service: found for service, found in problems.items() if found} == {}


def test_the_services_expose_every_metric_the_dashboards_query(exposed: dict[str, Exposed]) -> None:
    platform = _platform()
    wanted = {k: v for k, v in selected(_dashboard_queries(platform)).items() if k not in _recorded(platform)}
    union: Exposed = defaultdict(set)
    for metrics in exposed.values():
        for name, labels in metrics.items():
            union[name] |= labels
    print(
        "\nqueried by the dashboards:\n"
        + "\n".join(f"  {name}: {sorted(labels)}" for name, labels in sorted(wanted.items()))
    )
    assert _missing(wanted, union) == {}

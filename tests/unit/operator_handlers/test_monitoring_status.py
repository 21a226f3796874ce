"""What the handlers observe and report of monitoring: the optional kinds the API server serves (read once, again
after a while or when a kind vanished), status.monitoring, and each object's health for the operator's alerts."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from prometheus_client import REGISTRY

from fabrikam.operator.api import Problem
from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.handlers import report
from fabrikam.operator.handlers.conditions import Availability
from fabrikam.operator.handlers.discovery import Discovery
from fabrikam.operator.handlers.report import LastReconcile
from fabrikam.operator.metrics import Health
from fabrikam.operator.render import MonitoringApis


class FakeDiscovery:
    """The discovery documents of an API server: group version -> kinds; counts the reads."""

    def __init__(self, served: dict[str, set[str]]) -> None:
        self.served, self.reads = served, 0

    async def served_kinds(self, api_version: str) -> frozenset[str]:
        self.reads += 1
        return frozenset(self.served.get(api_version, set()))


def _monitoring(discovery: Discovery, api: FakeDiscovery) -> MonitoringApis:
    return asyncio.run(discovery.monitoring(cast(KubeApi, api)))


def test_without_the_prometheus_operator_nothing_of_it_is_served() -> None:
    api = FakeDiscovery({})
    assert _monitoring(Discovery(60), api) == MonitoringApis(False, False, False)


def test_the_served_kinds_are_read_once_then_again_after_the_period_or_when_one_vanished() -> None:
    api = FakeDiscovery({"monitoring.coreos.com/v1": {"PrometheusRule", "ServiceMonitor"}})
    discovery = Discovery(3600)
    assert _monitoring(discovery, api) == MonitoringApis(True, False, False)
    reads = api.reads
    api.served["monitoring.coreos.com/v1"] |= {"PodMonitor"}
    api.served["monitoring.coreos.com/v1alpha1"] = {"AlertmanagerConfig"}
    assert _monitoring(discovery, api) == MonitoringApis(True, False, False)
    assert api.reads == reads  # trusted within the period
    discovery.forget()
    assert _monitoring(discovery, api) == MonitoringApis(True, True, True)
    assert _monitoring(Discovery(0), api) == MonitoringApis(True, True, True)


def test_the_status_says_what_watches_a_service_and_keeps_it_while_blocked() -> None:
    body: dict[str, Any] = {"metadata": {"generation": 2}, "status": {"monitoring": "PrometheusRule x-slo: 4 alerts"}}
    fresh = LastReconcile(2, monitoring="PrometheusRule CRD not installed: no alerts")
    status = report.service_status(body, fresh, None, Availability())
    assert status["monitoring"] == "PrometheusRule CRD not installed: no alerts"
    blocked = LastReconcile(2, [Problem("InvalidSpec", "spec.x")], True)
    assert report.service_status(body, blocked, None, Availability())["monitoring"] == (
        "PrometheusRule x-slo: 4 alerts"
    )


def test_the_platform_status_says_what_watches_it() -> None:
    body: dict[str, Any] = {"metadata": {"name": "p", "generation": 1}, "spec": {"teams": []}}
    outcome = LastReconcile(1, monitoring="AlertmanagerConfig CRD not installed: no on-call routing")
    status = report.platform_status(body, outcome, [], [])
    assert status is not None
    assert status["monitoring"] == "AlertmanagerConfig CRD not installed: no on-call routing"


def _conditions(**statuses: str) -> dict[str, Any]:
    return {"conditions": [{"type": kind, "status": value} for kind, value in statuses.items()]}


def test_an_objects_health_is_ready_stalled_or_progressing() -> None:
    assert report.health(_conditions(Ready="True", Stalled="False")) == "ready"
    assert report.health(_conditions(Ready="False", Stalled="True")) == "stalled"
    assert report.health(_conditions(Ready="False", Reconciling="True", Stalled="False")) == "progressing"
    assert report.health({}) == "progressing"


def _objects(kind: str, health: str) -> float:
    value = REGISTRY.get_sample_value("fabrikam_operator_objects", {"kind": kind, "health": health})
    return value or 0.0


def test_the_health_gauge_counts_objects_not_status_writes() -> None:
    health, kind = Health(), "TestKind"
    health.record(kind, "ns", "a", "progressing")
    health.record(kind, "ns", "a", "progressing")
    health.record(kind, "ns", "b", "stalled")
    assert (_objects(kind, "progressing"), _objects(kind, "stalled")) == (1, 1)
    health.record(kind, "ns", "a", "ready")
    assert (_objects(kind, "progressing"), _objects(kind, "ready")) == (0, 1)
    health.forget(kind, "ns", "b")
    health.forget(kind, "ns", "gone")
    assert _objects(kind, "stalled") == 0

"""The monitoring of a DroneService: its SLO alerts (a PrometheusRule) and its scraping (a PodMonitor), and what the
status says of them; the composition of everything the operator renders to watch a service or a platform.

The alerts are the SRE workbook's multi-window, multi-burn-rate alerts (chapter "Alerting on SLOs"): for a 30-day
objective, a page when the error budget burns 14.4 times too fast over an hour and five minutes (2 % of the budget
gone in an hour) or 6 times over six hours and thirty minutes (5 % in six hours); a ticket when it burns faster than
it lasts over three days and six hours (10 % in three days). The long window makes an alert significant, the short
one makes it stop soon after the problem does. The ratios are recorded over 2h and 1d too, for the dashboards.

The Prometheus Operator's kinds are optional: what the API server serves is observed by the handlers
(`MonitoringApis`) and rendering follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabrikam.operator.api import API_VERSION, DeliveryPlatform, DroneService
from fabrikam.operator.api.service import KIND
from fabrikam.operator.render import dashboards, oncall
from fabrikam.operator.render.labels import Obj, common, metadata, owner_reference, selector
from fabrikam.operator.render.slo import INDICATORS, WINDOWS, Indicator, readiness_failing, recorded, service_label

MONITORING_V1 = "monitoring.coreos.com/v1"
PROMETHEUS_RULE = "PrometheusRule"
POD_MONITOR = "PodMonitor"


@dataclass(frozen=True)
class MonitoringApis:
    """Which of the Prometheus Operator's kinds the API server serves (their CRDs are optional), as the handlers
    observed through discovery; rendering offline assumes all of them."""

    prometheus_rule: bool = True
    pod_monitor: bool = True
    alertmanager_config: bool = True


@dataclass(frozen=True)
class BurnRate:
    """One window pair: the ratio of bad requests exceeds `factor` times the error budget over both windows."""

    long: str
    short: str
    factor: float


@dataclass(frozen=True)
class BurnAlert:
    """One alert per indicator: a page for fast burns, a ticket for slow ones; either pair fires it."""

    speed: str
    severity: str
    for_: str
    rates: tuple[BurnRate, ...]
    budget_spent: str

    def name(self, indicator: Indicator) -> str:
        return f"Fabrikam{indicator.title}{self.speed}Burn"


# No pod of the service passes its readiness probe: a page after this long (a rollout's new pods that never become
# ready leave the old ones serving, so this is an outage, not a rollout).
NOT_READY_ALERT = "FabrikamServiceNotReady"
NOT_READY_FOR = "2m"
NOT_READY_WINDOW = "2m"

BURN_ALERTS = (
    BurnAlert(
        "Fast", "critical", "2m", (BurnRate("1h", "5m", 14.4), BurnRate("6h", "30m", 6)), "2 % in 1h or 5 % in 6h"
    ),
    BurnAlert("Slow", "warning", "15m", (BurnRate("3d", "6h", 1),), "10 % in 3d"),
)


def runbook_url(platform: DeliveryPlatform, page: str, alert: str) -> str:
    """Where a person reads what an alert means and what to do: `<base>/<page>.md#<alert>` (GitHub's anchor of the
    runbook's heading named after the alert)."""
    return f"{platform.spec.observability.runbook_base_url.rstrip('/')}/{page}.md#{alert.lower()}"


def rule_name(svc: DroneService) -> str:
    return f"{svc.name}-slo"


def _objects_labels(svc: DroneService, platform: DeliveryPlatform) -> dict[str, str]:
    team = platform.spec.team_of_namespace(svc.namespace)
    assert team is not None  # render_drone_service refused a service outside the platform's teams
    labels = common(name=svc.name, component=svc.spec.component.value, team=team, platform=platform.name)
    return {**platform.spec.observability.prometheus_labels, **labels}


def _owners(svc: DroneService) -> list[Obj]:
    return owner_reference(api_version=API_VERSION, kind=KIND, name=svc.name, uid=svc.metadata.uid)


def _percent(value: float) -> str:
    return f"{value:g} %"


def _alert(svc: DroneService, platform: DeliveryPlatform, indicator: Indicator, burn: BurnAlert) -> Obj:
    budget = indicator.budget(svc)
    pairs = [
        f"(\n  {recorded(rate.long)}{{{_series(svc, indicator)}}} > ({rate.factor:g} * {budget:g})\nand\n"
        f"  {recorded(rate.short)}{{{_series(svc, indicator)}}} > ({rate.factor:g} * {budget:g})\n)"
        for rate in burn.rates
    ]
    windows = " or ".join(f"{r.factor:g}x over {r.long} and {r.short}" for r in burn.rates)
    name = burn.name(indicator)
    team = platform.spec.team_of_namespace(svc.namespace)
    return {
        "alert": name,
        "expr": "\nor\n".join(pairs),
        "for": burn.for_,
        "labels": {
            "severity": burn.severity,
            "slo": indicator.name,
            "team": team.name if team else "",
            "platform": platform.name,
        },
        "annotations": {
            "summary": f"{svc.name} in {svc.namespace} burns its {indicator.name} error budget "
            f"{'fast' if burn.severity == 'critical' else 'slowly'}",
            "description": f"{{{{ $value | humanizePercentage }}}} of the requests to {svc.name} are "
            f"{indicator.bad}: the error budget of {_percent(budget * 100)} (objective "
            f"{_percent(indicator.target(svc))} over 30 days) burns {windows} (spent at this pace: "
            f"{burn.budget_spent}).",
            "runbook_url": runbook_url(platform, indicator.runbook, name),
        },
    }


def _not_ready_alert(svc: DroneService, platform: DeliveryPlatform) -> Obj:
    """The availability page the burn rates cannot give once every pod is unready: no pod then receives a request,
    the ratio of 5xx answers has nothing to count, and the fast burn would resolve minutes into the outage."""
    team = platform.spec.team_of_namespace(svc.namespace)
    return {
        "alert": NOT_READY_ALERT,
        "expr": readiness_failing(svc, NOT_READY_WINDOW),
        "for": NOT_READY_FOR,
        "labels": {
            "severity": "critical",
            "slo": "availability",
            "team": team.name if team else "",
            "platform": platform.name,
        },
        "annotations": {
            "summary": f"no pod of {svc.name} in {svc.namespace} is ready",
            "description": f"Every readiness probe of {svc.name}'s pods has failed for {NOT_READY_FOR}: its Service "
            "has no endpoints, so its callers' requests fail before reaching it and the availability objective "
            "cannot count them. The pods' /readyz names the dependency they miss.",
            "runbook_url": runbook_url(platform, "service-availability", NOT_READY_ALERT),
        },
    }


def _series(svc: DroneService, indicator: Indicator) -> str:
    return f'namespace="{svc.namespace}", service="{service_label(svc)}", slo="{indicator.name}"'


def rule_groups(svc: DroneService, platform: DeliveryPlatform) -> list[Obj]:
    """The PrometheusRule's `spec.groups`: the ratios of bad requests over every window, recorded, then the alerts
    on them (one group: a group's rules are evaluated in order, so the alerts read this evaluation's ratios)."""
    rules: list[Obj] = [
        {
            "record": recorded(window),
            "expr": indicator.ratio(svc, window),
            "labels": {"slo": indicator.name},
        }
        for indicator in INDICATORS
        for window in WINDOWS
    ]
    rules += [_alert(svc, platform, indicator, burn) for indicator in INDICATORS for burn in BURN_ALERTS]
    rules.append(_not_ready_alert(svc, platform))
    return [{"name": f"{svc.namespace}.{svc.name}.slo", "rules": rules}]


def prometheus_rule(svc: DroneService, platform: DeliveryPlatform) -> Obj:
    return {
        "apiVersion": MONITORING_V1,
        "kind": PROMETHEUS_RULE,
        "metadata": metadata(
            rule_name(svc), namespace=svc.namespace, labels=_objects_labels(svc, platform), owners=_owners(svc)
        ),
        "spec": {"groups": rule_groups(svc, platform)},
    }


def pod_monitor(svc: DroneService, platform: DeliveryPlatform) -> Obj:
    """Prometheus scrapes the service's pods at /metrics, labelling their series with namespace and pod."""
    return {
        "apiVersion": MONITORING_V1,
        "kind": POD_MONITOR,
        "metadata": metadata(
            svc.name, namespace=svc.namespace, labels=_objects_labels(svc, platform), owners=_owners(svc)
        ),
        "spec": {
            "selector": {"matchLabels": selector(svc.name)},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics"}],
        },
    }


def _alerting(svc: DroneService) -> bool:
    return svc.spec.slo.enabled


def _scraped(svc: DroneService, platform: DeliveryPlatform) -> bool:
    metrics = platform.spec.observability.metrics
    return metrics.enabled and metrics.pod_monitor


def render_service_monitoring(svc: DroneService, *, platform: DeliveryPlatform, apis: MonitoringApis) -> list[Obj]:
    """What watches one DroneService (already validated by render_drone_service): its PodMonitor and PrometheusRule
    where the API server serves them, and its dashboard."""
    objects: list[Obj] = []
    if _scraped(svc, platform) and apis.pod_monitor:
        objects.append(pod_monitor(svc, platform))
    if _alerting(svc) and apis.prometheus_rule:
        objects.append(prometheus_rule(svc, platform))
    if platform.spec.observability.dashboards.enabled:
        team = platform.spec.team_of_namespace(svc.namespace)
        assert team is not None
        labels = common(name=svc.name, component=svc.spec.component.value, team=team, platform=platform.name)
        objects.append(dashboards.service_dashboard(svc, platform=platform, labels=labels, owners=_owners(svc)))
    return objects


def service_monitoring_status(svc: DroneService, *, platform: DeliveryPlatform, apis: MonitoringApis) -> str:
    """The DroneService's status.monitoring: what watches it, or what is missing and what that means."""
    parts = []
    if not _alerting(svc):
        parts.append("no alerts (spec.slo.enabled is false)")
    elif apis.prometheus_rule:
        alerts = len(INDICATORS) * len(BURN_ALERTS)
        parts.append(f"PrometheusRule {rule_name(svc)}: {alerts} burn-rate alerts and {NOT_READY_ALERT}")
    else:
        parts.append("PrometheusRule CRD not installed: no alerts")
    if _scraped(svc, platform):
        parts.append(
            f"PodMonitor {svc.name}"
            if apis.pod_monitor
            else "PodMonitor CRD not installed: scraped only where the prometheus.io annotations are"
        )
    if platform.spec.observability.dashboards.enabled:
        parts.append(f"dashboard ConfigMap {dashboards.service_dashboard_name(svc)}")
    return "; ".join(parts)


def render_platform_monitoring(platform: DeliveryPlatform, *, apis: MonitoringApis) -> list[Obj]:
    """What watches the platform as a whole: its dashboard, and the on-call routing of each team namespace where the
    API server serves AlertmanagerConfigs."""
    objects: list[Obj] = []
    if platform.spec.observability.dashboards.enabled:
        objects.append(dashboards.platform_dashboard(platform))
    if platform.spec.observability.on_call is not None and apis.alertmanager_config:
        objects += [obj for team in platform.spec.teams for obj in oncall.render_on_call(platform, team)]
    return objects


def platform_monitoring_status(platform: DeliveryPlatform, *, apis: MonitoringApis) -> str:
    """The platform's status.monitoring."""
    observability = platform.spec.observability
    parts = []
    if observability.dashboards.enabled:
        dashboard = dashboards.platform_dashboard(platform)["metadata"]
        parts.append(f"dashboard ConfigMap {dashboard['namespace']}/{dashboard['name']}")
    if observability.on_call is None:
        parts.append("no on-call routing (spec.observability.onCall is not set)")
    elif apis.alertmanager_config:
        parts.append(f"AlertmanagerConfig {oncall.ON_CALL} in {len(platform.spec.teams)} team namespaces")
    else:
        parts.append("AlertmanagerConfig CRD not installed: no on-call routing")
    return "; ".join(parts)

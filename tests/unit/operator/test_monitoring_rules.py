"""Given a DroneService and its platform, these are its PodMonitor, its SLO PrometheusRule and what its status says of
them; given what the API server serves, only that is rendered."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.observability import LATENCY_BOUNDS_MS
from fabrikam.operator.render import (
    MonitoringApis,
    bundled_services,
    render_drone_service,
    render_service_monitoring,
    service_monitoring_status,
)
from fabrikam.operator.render.monitoring import rule_groups
from fabrikam.operator.render.slo import WINDOWS, service_label

NONE_SERVED = MonitoringApis(prometheus_rule=False, pod_monitor=False, alertmanager_config=False)


def _bundled(platform: DeliveryPlatform, name: str) -> DroneService:
    return next(s for s in bundled_services(platform) if s.name == name)


def _by_kind(svc: DroneService, platform: DeliveryPlatform, apis: MonitoringApis | None = None) -> dict[str, Any]:
    objects = render_service_monitoring(svc, platform=platform, apis=apis or MonitoringApis())
    return {o["kind"]: o for o in objects}


def _rules(svc: DroneService, platform: DeliveryPlatform) -> list[dict[str, Any]]:
    [group] = rule_groups(svc, platform)
    rules: list[dict[str, Any]] = group["rules"]
    return rules


def _alerts(svc: DroneService, platform: DeliveryPlatform) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in _rules(svc, platform) if "alert" in r}


def _with_slo(svc: DroneService, slo: dict[str, Any]) -> DroneService:
    document = svc.model_dump(mode="json", by_alias=True)
    document["spec"]["slo"] = slo
    return DroneService.model_validate(document)


def test_a_service_is_scraped_alerted_on_and_charted(platform: DeliveryPlatform) -> None:
    svc = _bundled(platform, "ingestion")
    objects = render_service_monitoring(svc, platform=platform, apis=MonitoringApis())
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("PodMonitor", "ingestion"),
        ("PrometheusRule", "ingestion-slo"),
        ("ConfigMap", "ingestion-dashboard"),
    ]
    assert {o["metadata"]["namespace"] for o in objects} == {"fabrikam-shipping"}


def test_the_prometheus_operator_objects_carry_the_platform_selector_labels_but_never_lose_ours(
    platform_doc: dict[str, Any],
) -> None:
    platform_doc["spec"]["observability"]["prometheusLabels"] = {
        "release": "kube-prometheus-stack",
        "app.kubernetes.io/managed-by": "helm",
    }
    platform = DeliveryPlatform.model_validate(platform_doc)
    objects = _by_kind(_bundled(platform, "ingestion"), platform)
    for kind in ("PodMonitor", "PrometheusRule"):
        labels = objects[kind]["metadata"]["labels"]
        assert labels["release"] == "kube-prometheus-stack"
        assert labels["app.kubernetes.io/managed-by"] == "fabrikam-operator"
    assert "release" not in objects["ConfigMap"]["metadata"]["labels"]


def test_the_pod_monitor_scrapes_the_service_pods_on_their_http_port(platform: DeliveryPlatform) -> None:
    svc = _bundled(platform, "delivery")
    deployment = next(o for o in render_drone_service(svc, platform=platform) if o["kind"] == "Deployment")
    monitor = _by_kind(svc, platform)["PodMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics"}]
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [p["name"] for p in ports] == ["http"]


def test_the_rules_record_both_ratios_over_every_window_then_alert_on_them(platform: DeliveryPlatform) -> None:
    rules = _rules(_bundled(platform, "ingestion"), platform)
    recorded = [(r["record"], r["labels"]["slo"]) for r in rules if "record" in r]
    assert recorded == [
        (f"fabrikam:slo_errors:ratio_rate{w}", slo) for slo in ("availability", "latency") for w in WINDOWS
    ]
    assert WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert [r.get("alert") for r in rules[len(recorded) :]] == [
        "FabrikamAvailabilityFastBurn",
        "FabrikamAvailabilitySlowBurn",
        "FabrikamLatencyFastBurn",
        "FabrikamLatencySlowBurn",
        "FabrikamServiceNotReady",
    ]


def test_a_service_whose_pods_all_fail_readiness_pages_though_no_request_reaches_it(platform: DeliveryPlatform) -> None:
    """Unready pods leave the Service's endpoints: callers fail at the Service, the 5xx ratio sees no request."""
    alert = _alerts(_bundled(platform, "ingestion"), platform)["FabrikamServiceNotReady"]
    series = 'namespace="fabrikam-shipping", service="ingestion", route="/readyz"'
    assert alert["expr"] == (
        f"sum by (namespace, service) (rate(fabrikam_http_requests_total{{{series}}}[2m])) > 0\nunless\n"
        f'sum by (namespace, service) (rate(fabrikam_http_requests_total{{{series}, status="200"}}[2m])) > 0'
    )
    assert (alert["for"], alert["labels"]["severity"], alert["labels"]["slo"]) == ("2m", "critical", "availability")
    assert alert["annotations"]["runbook_url"].endswith("service-availability.md#fabrikamservicenotready")


def test_the_alerts_are_the_workbook_burn_rates_of_the_objective(platform: DeliveryPlatform) -> None:
    alerts = _alerts(_bundled(platform, "ingestion"), platform)
    fast, slow = alerts["FabrikamAvailabilityFastBurn"], alerts["FabrikamAvailabilitySlowBurn"]
    assert (fast["labels"]["severity"], fast["for"]) == ("critical", "2m")
    assert (slow["labels"]["severity"], slow["for"]) == ("warning", "15m")
    series = 'namespace="fabrikam-shipping", service="ingestion", slo="availability"'
    for window, factor in (("1h", "14.4"), ("5m", "14.4"), ("6h", "6"), ("30m", "6")):
        assert f"fabrikam:slo_errors:ratio_rate{window}{{{series}}} > ({factor} * 0.001)" in fast["expr"]
    for window in ("3d", "6h"):
        assert f"fabrikam:slo_errors:ratio_rate{window}{{{series}}} > (1 * 0.001)" in slow["expr"]
    assert fast["expr"].count("\nor\n") == 1
    assert fast["expr"].count("\nand\n") == 2
    latency = alerts["FabrikamLatencyFastBurn"]["expr"]
    assert 'slo="latency"} > (14.4 * 0.01)' in latency  # the default latency objective is 99 %


def test_the_alerts_say_who_where_and_what_to_do(platform: DeliveryPlatform) -> None:
    alert = _alerts(_bundled(platform, "package"), platform)["FabrikamLatencySlowBurn"]
    assert alert["labels"] == {"severity": "warning", "slo": "latency", "team": "customer", "platform": "fabrikam"}
    assert alert["annotations"]["summary"] == "package in fabrikam-customer burns its latency error budget slowly"
    assert "{{ $value | humanizePercentage }}" in alert["annotations"]["description"]
    assert "objective 99 % over 30 days" in alert["annotations"]["description"]
    assert alert["annotations"]["runbook_url"] == (
        "https://github.com/fabrikam/drone-delivery/blob/main/docs/runbooks/service-latency.md#fabrikamlatencyslowburn"
    )


def test_the_runbooks_may_live_elsewhere(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["observability"]["runbookBaseUrl"] = "https://wiki.fabrikam.example/runbooks/"
    platform = DeliveryPlatform.model_validate(platform_doc)
    alert = _alerts(_bundled(platform, "account"), platform)["FabrikamAvailabilityFastBurn"]
    assert alert["annotations"]["runbook_url"] == (
        "https://wiki.fabrikam.example/runbooks/service-availability.md#fabrikamavailabilityfastburn"
    )


def test_the_objectives_come_from_the_spec(platform: DeliveryPlatform, team_service: DroneService) -> None:
    assert team_service.spec.slo.availability.target == 99.5
    alerts = _alerts(team_service, platform)
    assert "> (14.4 * 0.005)" in alerts["FabrikamAvailabilityFastBurn"]["expr"]
    recorded = {(r["record"], r["labels"]["slo"]): r["expr"] for r in _rules(team_service, platform) if "record" in r}
    latency = recorded[("fabrikam:slo_errors:ratio_rate1h", "latency")]
    assert 'le="0.5"' in latency  # thresholdMilliseconds: 500
    assert 'service="delivery-analytics"' in latency


@pytest.mark.parametrize(("threshold", "le"), [(1, "0.001"), (250, "0.25"), (1000, "1.0"), (2500, "2.5")])
def test_the_threshold_is_the_bucket_bound_as_the_services_expose_it(
    platform: DeliveryPlatform, team_service: DroneService, threshold: int, le: str
) -> None:
    svc = _with_slo(team_service, {"latency": {"thresholdMilliseconds": threshold}})
    recorded = [r["expr"] for r in _rules(svc, platform) if "record" in r and r["labels"]["slo"] == "latency"]
    assert len(recorded) == 7
    assert all(f'le="{le}"' in expr for expr in recorded)


def test_the_availability_ratio_counts_5xx_over_user_requests_and_is_zero_without_errors(
    platform: DeliveryPlatform,
) -> None:
    rules = _rules(_bundled(platform, "ingestion"), platform)
    [expr] = [
        r["expr"]
        for r in rules
        if r.get("record") == "fabrikam:slo_errors:ratio_rate1h" and r["labels"]["slo"] == "availability"
    ]
    requests = (
        'fabrikam_http_requests_total{namespace="fabrikam-shipping", service="ingestion", route!="/healthz", '
        'route!="/readyz", route!="/metrics"'
    )
    assert expr == (
        f'(sum by (namespace, service) (rate({requests}, status=~"5.."}}[1h])) or 0 * '
        f"sum by (namespace, service) (rate({requests}}}[1h])))\n/\n"
        f"sum by (namespace, service) (rate({requests}}}[1h]))"
    )


def test_streams_are_outside_the_latency_objective(platform: DeliveryPlatform, team_service: DroneService) -> None:
    delivery = _rules(_bundled(platform, "delivery"), platform)
    latency = [r["expr"] for r in delivery if r.get("labels", {}).get("slo") == "latency" and "record" in r]
    availability = [r["expr"] for r in delivery if r.get("labels", {}).get("slo") == "availability" and "record" in r]
    assert all('route!="/v1/deliveries/{delivery_id}/track"' in e for e in latency)
    assert all('route!="/v1/deliveries/{delivery_id}/stream"' in e for e in latency)
    assert not any("/track" in e for e in availability)
    custom = _with_slo(team_service, {"latency": {"excludedRoutes": ["/v1/reports/{id}/live"]}})
    assert all(
        'route!="/v1/reports/{id}/live"' in r["expr"]
        for r in _rules(custom, platform)
        if r.get("labels", {}).get("slo") == "latency" and "record" in r
    )


def test_the_service_label_is_the_fabrikam_service_the_operator_configures(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    for svc in [*bundled_services(platform), team_service]:
        config = next(o for o in render_drone_service(svc, platform=platform) if o["kind"] == "ConfigMap")
        assert service_label(svc) == config["data"]["FABRIKAM_SERVICE"], svc.name


def test_without_the_crds_nothing_of_theirs_is_rendered_and_the_status_says_so(platform: DeliveryPlatform) -> None:
    svc = _bundled(platform, "workflow")
    assert list(_by_kind(svc, platform, NONE_SERVED)) == ["ConfigMap"]
    assert service_monitoring_status(svc, platform=platform, apis=NONE_SERVED) == (
        "PrometheusRule CRD not installed: no alerts; PodMonitor CRD not installed: scraped only where the "
        "prometheus.io annotations are; dashboard ConfigMap workflow-dashboard"
    )
    assert service_monitoring_status(svc, platform=platform, apis=MonitoringApis()) == (
        "PrometheusRule workflow-slo: 4 burn-rate alerts and FabrikamServiceNotReady; "
        "PodMonitor workflow; dashboard ConfigMap workflow-dashboard"
    )


def test_a_service_may_turn_its_alerts_off(platform: DeliveryPlatform, team_service: DroneService) -> None:
    quiet = _with_slo(team_service, {"enabled": False})
    assert "PrometheusRule" not in _by_kind(quiet, platform)
    status = service_monitoring_status(quiet, platform=platform, apis=MonitoringApis())
    assert status.startswith("no alerts (spec.slo.enabled is false)")


def test_the_platform_may_leave_scraping_and_dashboards_to_others(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["observability"]["metrics"]["podMonitor"] = False
    platform_doc["spec"]["observability"]["dashboards"] = {"enabled": False}
    platform = DeliveryPlatform.model_validate(platform_doc)
    assert list(_by_kind(_bundled(platform, "ingestion"), platform)) == ["PrometheusRule"]


@pytest.mark.parametrize(
    ("slo", "field"),
    [
        ({"availability": {"target": 90}}, "availability.target"),
        ({"availability": {"target": 100}}, "availability.target"),
        ({"latency": {"target": 94.9}}, "latency.target"),
        ({"latency": {"thresholdMilliseconds": 300}}, "latency.thresholdMilliseconds"),
        ({"latency": {"excludedRoutes": ['/x"}']}}, "latency.excludedRoutes"),
    ],
)
def test_objectives_out_of_bounds_are_refused_naming_the_field(
    team_service_doc: dict[str, Any], slo: dict[str, Any], field: str
) -> None:
    team_service_doc["spec"]["slo"] = slo
    with pytest.raises(ValidationError) as refused:
        DroneService.model_validate(team_service_doc)
    assert field in str(refused.value).replace("\n", ".").replace(" ", ""), str(refused.value)


def test_the_latency_thresholds_are_bounds_of_the_services_histogram() -> None:
    from fabrikam.workloads.kit.metrics import HTTP_LATENCY

    bounds = {round(b * 1000, 3) for b in HTTP_LATENCY._upper_bounds if b != float("inf")}
    assert set(LATENCY_BOUNDS_MS) <= bounds

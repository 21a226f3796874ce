"""Given a platform and its services, these are their Grafana dashboards: ConfigMaps the sidecar loads, with the panels
a person on call looks at first."""

from __future__ import annotations

import json
from typing import Any

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import MonitoringApis, bundled_services, render_platform_monitoring
from fabrikam.operator.render.dashboards import platform_dashboard, service_dashboard
from fabrikam.operator.render.labels import owner_reference


def _board(config_map: dict[str, Any]) -> dict[str, Any]:
    [(name, text)] = config_map["data"].items()
    assert name == f"{config_map['metadata']['name']}.json"
    board: dict[str, Any] = json.loads(text)
    return board


def _panels(board: dict[str, Any]) -> dict[str, list[str]]:
    """Panel title -> its queries (rows aside)."""
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in board["panels"] if p["type"] != "row"}


def _service_board(svc: DroneService, platform: DeliveryPlatform) -> dict[str, Any]:
    config_map = service_dashboard(svc, platform=platform, labels={"a": "b"}, owners=[])
    return _board(config_map)


def _bundled(platform: DeliveryPlatform, name: str) -> DroneService:
    return next(s for s in bundled_services(platform) if s.name == name)


def test_dashboards_are_config_maps_the_grafana_sidecar_loads(platform: DeliveryPlatform) -> None:
    config_map = service_dashboard(_bundled(platform, "ingestion"), platform=platform, labels={"x": "y"}, owners=[])
    meta = config_map["metadata"]
    assert (meta["name"], meta["namespace"]) == ("ingestion-dashboard", "fabrikam-shipping")
    assert meta["labels"] == {"x": "y", "grafana_dashboard": "1"}
    assert meta["annotations"] == {"grafana_folder": "Fabrikam fabrikam"}
    board = _board(config_map)
    assert board["title"] == "Fabrikam fabrikam / fabrikam-shipping / ingestion"
    assert board["uid"].startswith("fabrikam-")
    assert len(board["uid"]) <= 40
    assert board["templating"]["list"][0] == {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "hide": 0,
    }


def test_a_service_dashboard_shows_rate_errors_duration_and_saturation(platform: DeliveryPlatform) -> None:
    panels = _panels(_service_board(_bundled(platform, "ingestion"), platform))
    assert list(panels) == [
        "Requests by route",
        "Server errors",
        "Latency percentiles",
        "Availability error budget burn rate",
        "Latency error budget burn rate",
        "CPU per pod",
        "Memory per pod",
        "Redis connections in use",
    ]
    selector = 'namespace="fabrikam-shipping", service="ingestion"'
    assert all(selector in q for q in panels["Requests by route"] + panels["Latency percentiles"])
    assert panels["Latency percentiles"][2].startswith("histogram_quantile(0.99, ")
    assert panels["CPU per pod"] == [
        'rate(process_cpu_seconds_total{namespace="fabrikam-shipping", pod=~"ingestion-[a-z0-9]+-[a-z0-9]+"}[5m])'
    ]
    assert panels["Availability error budget burn rate"][1] == (
        'fabrikam:slo_errors:ratio_rate1h{namespace="fabrikam-shipping", service="ingestion", slo="availability"} '
        "/ 0.001"
    )


def test_the_objectives_are_drawn_where_the_series_should_stay(platform: DeliveryPlatform) -> None:
    board = _service_board(_bundled(platform, "ingestion"), platform)
    thresholds = {
        p["title"]: [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]]
        for p in board["panels"]
        if "thresholds" in p.get("fieldConfig", {}).get("defaults", {})
    }
    assert thresholds["Server errors"] == [0.001]
    assert thresholds["Latency percentiles"] == [0.25]


def test_a_queue_consumer_shows_its_handlers_and_messages(platform: DeliveryPlatform) -> None:
    panels = _panels(_service_board(_bundled(platform, "workflow"), platform))
    assert "Message handlers busy" in panels
    assert panels["Messages handled by outcome"] == [
        'sum by (queue, outcome) (rate(fabrikam_messages_total{namespace="fabrikam-shipping", service="workflow"}[5m]))'
    ]
    assert "Message handlers busy" not in _panels(_service_board(_bundled(platform, "ingestion"), platform))


def test_a_service_without_objectives_has_no_budget_panels(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    document = team_service.model_dump(mode="json", by_alias=True)
    document["spec"]["slo"] = {"enabled": False}
    panels = _panels(_service_board(DroneService.model_validate(document), platform))
    assert not any("budget" in title for title in panels)


def test_the_panels_sit_on_the_grid_without_overlapping(platform: DeliveryPlatform) -> None:
    for board in (_service_board(_bundled(platform, "workflow"), platform), _board(platform_dashboard(platform))):
        cells = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, panel["title"]
                    cells.add((x, y))
        assert [p["id"] for p in board["panels"]] == list(range(1, len(board["panels"]) + 1))


def test_the_platform_dashboard_shows_deliveries_ingestion_queues_drones_and_notifications(
    platform: DeliveryPlatform,
) -> None:
    panels = _panels(_board(platform_dashboard(platform)))
    namespaces = 'namespace=~"fabrikam-customer|fabrikam-fleet|fabrikam-shipping"'
    assert panels["Deliveries reaching each stage"] == [
        f"sum by (stage) (rate(fabrikam_delivery_stage_transitions_total{{{namespaces}}}[5m]))"
    ]
    assert panels["Drones by status"] == [f"max by (status) (fabrikam_drones{{{namespaces}}})"]
    assert panels["Queue depth"] == [f"max by (queue, state) (fabrikam_queue_messages{{{namespaces}}})"]
    assert panels["Oldest message age"] == [
        f"max by (queue) (fabrikam_queue_oldest_message_age_seconds{{{namespaces}}})"
    ]
    assert panels["Notifications by channel and outcome"] == [
        f"sum by (channel, outcome) (rate(fabrikam_notifications_total{{{namespaces}}}[5m]))"
    ]
    [p99] = panels["Ingestion p99"]
    assert 'fabrikam_http_request_seconds_bucket{namespace="fabrikam-shipping", service="ingestion"' in p99


def test_the_platform_dashboard_lives_with_the_first_team_or_where_the_spec_says(platform_doc: dict[str, Any]) -> None:
    platform_doc["metadata"]["uid"] = "u-1"
    platform = DeliveryPlatform.model_validate(platform_doc)
    config_map = platform_dashboard(platform)
    assert (config_map["metadata"]["namespace"], config_map["metadata"]["name"]) == (
        "fabrikam-shipping",
        "fabrikam-platform-dashboard",
    )
    assert config_map["metadata"]["ownerReferences"] == owner_reference(
        api_version="dronedelivery.fabrikam.io/v1alpha1", kind="DeliveryPlatform", name="fabrikam", uid="u-1"
    )
    platform_doc["spec"]["observability"]["dashboards"] = {"namespace": "monitoring"}
    moved = platform_dashboard(DeliveryPlatform.model_validate(platform_doc))
    assert moved["metadata"]["namespace"] == "monitoring"


def test_without_ingestion_the_platform_dashboard_has_no_ingestion_row(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["services"] = {"ingestion": {"enabled": False}}
    for team in platform_doc["spec"]["teams"]:
        team["services"] = [s for s in team["services"] if s != "ingestion"]
    panels = _panels(_board(platform_dashboard(DeliveryPlatform.model_validate(platform_doc))))
    assert "Ingestion p99" not in panels


def test_the_platform_renders_its_dashboard_unless_turned_off(platform_doc: dict[str, Any]) -> None:
    platform = DeliveryPlatform.model_validate(platform_doc)
    assert [o["kind"] for o in render_platform_monitoring(platform, apis=MonitoringApis())] == ["ConfigMap"]
    platform_doc["spec"]["observability"]["dashboards"] = {"enabled": False}
    quiet = DeliveryPlatform.model_validate(platform_doc)
    assert render_platform_monitoring(quiet, apis=MonitoringApis()) == []

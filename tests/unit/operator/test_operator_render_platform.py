"""Given the sample platform, it expands into three team namespaces and the eight bundled DroneServices."""

from __future__ import annotations

from typing import Any

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import bundled_services, expand_platform


def test_the_platform_expands_into_teams_and_eight_services(platform: DeliveryPlatform) -> None:
    objects = expand_platform(platform)
    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    assert namespaces == ["fabrikam-shipping", "fabrikam-fleet", "fabrikam-customer"]
    services = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "DroneService"}
    assert services == {
        ("fabrikam-shipping", "ingestion"),
        ("fabrikam-shipping", "workflow"),
        ("fabrikam-shipping", "delivery"),
        ("fabrikam-fleet", "drone-scheduler"),
        ("fabrikam-fleet", "drone-telemetry"),
        ("fabrikam-customer", "package"),
        ("fabrikam-customer", "notification"),
        ("fabrikam-customer", "account"),
    }
    assert not any(o["metadata"].get("namespace") == "default" for o in objects)


def test_expanded_services_are_valid_drone_services_as_applied(platform: DeliveryPlatform) -> None:
    for obj in expand_platform(platform):
        if obj["kind"] == "DroneService":
            assert DroneService.model_validate(obj).spec.platform_ref.name == "fabrikam"
            assert "status" not in obj


def test_bundled_services_run_the_one_image_with_their_name(platform: DeliveryPlatform) -> None:
    workflow = next(s for s in bundled_services(platform) if s.name == "workflow")
    assert workflow.spec.image == platform.spec.image
    assert (workflow.spec.command, workflow.spec.args) == (["fabrikam-svc"], ["workflow"])


def test_calls_cross_team_namespaces_as_the_teams_own_them(platform: DeliveryPlatform) -> None:
    workflow = next(s for s in bundled_services(platform) if s.name == "workflow")
    assert {(c.namespace, c.name) for c in workflow.spec.calls} == {
        ("fabrikam-customer", "package"),
        ("fabrikam-fleet", "drone-scheduler"),
        ("fabrikam-shipping", "delivery"),
    }


def test_overrides_replace_the_catalog_defaults(platform: DeliveryPlatform) -> None:
    by_name = {s.name: s for s in bundled_services(platform)}
    assert by_name["ingestion"].spec.autoscaling.max_replicas == 30  # from the sample's override
    assert by_name["workflow"].spec.autoscaling.min_replicas == 3  # catalog default
    assert [(c.name, c.value) for c in by_name["delivery"].spec.config] == [("ETA_REFRESH_SECONDS", "15")]


def test_a_disabled_service_is_not_deployed(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["services"]["notification"] = {"enabled": False}
    names = {s.name for s in bundled_services(DeliveryPlatform.model_validate(platform_doc))}
    assert "notification" not in names
    assert len(names) == 7


def test_expansion_is_deterministic(platform: DeliveryPlatform) -> None:
    assert expand_platform(platform) == expand_platform(platform.model_copy(deep=True))

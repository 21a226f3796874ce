"""The API models reject what the apiserver rejects, with the field named in the message."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService, parse_quantity
from fabrikam.operator.render.documents import DocumentError, load


def _error(model: type[DeliveryPlatform] | type[DroneService], doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(doc)
    return str(raised.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("256Mi", Decimal(256 * 2**20)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
    ],
)
def test_quantities_parse_like_kubernetes(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_the_samples_are_valid(platform: DeliveryPlatform, team_service: DroneService) -> None:
    assert platform.name == "fabrikam"
    assert [t.name for t in platform.spec.teams] == ["shipping", "fleet", "customer"]
    assert team_service.spec.placement.interruptible is True


def test_defaults_fill_an_omitted_block(team_service_doc: dict[str, Any]) -> None:
    del team_service_doc["spec"]["autoscaling"], team_service_doc["spec"]["resources"]
    svc = DroneService.model_validate(team_service_doc)
    assert (svc.spec.autoscaling.min_replicas, svc.spec.autoscaling.max_replicas) == (2, 10)
    assert svc.spec.resources.limits.memory == "256Mi"
    assert svc.spec.identity.azure is True


def test_an_image_tag_is_rejected_only_digests_pin(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["image"]["digest"] = "latest"
    assert "image.digest" in _error(DroneService, team_service_doc)


def test_min_replicas_below_two_is_rejected(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["autoscaling"]["minReplicas"] = 1
    assert "autoscaling.minReplicas" in _error(DroneService, team_service_doc)


def test_max_replicas_below_min_is_rejected(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["autoscaling"] |= {"minReplicas": 5, "maxReplicas": 3}
    assert "autoscaling.maxReplicas must be greater than or equal to autoscaling.minReplicas" in _error(
        DroneService, team_service_doc
    )


def test_limits_below_requests_are_rejected_by_value_not_text(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["resources"] = {
        "requests": {"cpu": "1500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "512Mi"},
    }
    message = _error(DroneService, team_service_doc)
    assert "resources.limits.memory must be greater than or equal to resources.requests.memory" in message
    assert "limits.cpu" not in message


def test_a_container_without_limits_is_not_expressible(team_service_doc: dict[str, Any]) -> None:
    del team_service_doc["spec"]["resources"]["limits"]
    assert "resources.limits" in _error(DroneService, team_service_doc)


def test_privileged_or_unknown_fields_are_rejected(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["securityContext"] = {"privileged": True}
    assert "securityContext" in _error(DroneService, team_service_doc)


def test_config_cannot_override_operator_variables(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["config"] = [{"name": "FABRIKAM_HOST", "value": "127.0.0.1"}]
    assert "FABRIKAM_ and OTEL_ prefixes are reserved" in _error(DroneService, team_service_doc)


def test_a_pdb_that_could_evict_every_pod_is_rejected(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["disruption"] = {"maxUnavailable": 2}
    assert "spec.disruption.maxUnavailable must be less than spec.autoscaling.minReplicas" in _error(
        DroneService, team_service_doc
    )


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-anything"])
def test_a_team_cannot_live_in_a_system_namespace(platform_doc: dict[str, Any], namespace: str) -> None:
    platform_doc["spec"]["teams"][0]["namespace"] = namespace
    assert "teams[].namespace must not be default" in _error(DeliveryPlatform, platform_doc)


def test_two_teams_cannot_share_a_namespace(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["teams"][1]["namespace"] = platform_doc["spec"]["teams"][0]["namespace"]
    assert "spec.teams: duplicate namespace" in _error(DeliveryPlatform, platform_doc)


def test_every_enabled_bundled_service_has_exactly_one_owner(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["teams"][2]["services"] = ["package", "notification"]
    assert "the enabled bundled service 'account' must be owned by exactly one team" in _error(
        DeliveryPlatform, platform_doc
    )


def test_a_disabled_bundled_service_needs_no_owner(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["teams"][2]["services"] = ["package", "notification"]
    platform_doc["spec"]["services"]["account"] = {"enabled": False}
    assert DeliveryPlatform.model_validate(platform_doc).spec.services.account.enabled is False


def test_premium_only_features_need_premium(platform_doc: dict[str, Any]) -> None:
    broken = copy.deepcopy(platform_doc)
    broken["spec"]["messaging"]["serviceBus"]["sku"] = "Standard"
    assert "messaging.serviceBus.capacity is only valid with sku Premium" in _error(DeliveryPlatform, broken)
    platform_doc["spec"]["cache"]["redis"]["sku"] = "Standard"
    assert "cache.redis.zones and cache.redis.shardCount need sku Premium" in _error(DeliveryPlatform, platform_doc)


def test_load_names_the_object_and_every_bad_field(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["image"]["digest"] = "latest"
    team_service_doc["spec"]["port"] = 80
    with pytest.raises(DocumentError) as raised:
        load(team_service_doc)
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("DroneService fabrikam-shipping/delivery-analytics: spec.image.digest: ")
    assert lines[1].startswith("DroneService fabrikam-shipping/delivery-analytics: spec.port: ")


def test_a_drone_service_without_namespace_is_refused(team_service_doc: dict[str, Any]) -> None:
    del team_service_doc["metadata"]["namespace"]
    with pytest.raises(DocumentError, match=r"metadata\.namespace: required"):
        load(team_service_doc)


def test_other_kinds_are_refused() -> None:
    with pytest.raises(DocumentError, match="apiVersion/kind"):
        load({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})

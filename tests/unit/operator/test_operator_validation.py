"""What passes the schema but is still wrong becomes a problem with a reason and the field to fix."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import bundled_services, validate_drone_service, validate_platform


def _reasons(svc: DroneService, platform: DeliveryPlatform | None) -> list[tuple[str, str, bool]]:
    peers = [*bundled_services(platform), svc] if platform else [svc]
    return [(p.reason, p.field, p.fatal) for p in validate_drone_service(svc, platform=platform, peers=peers)]


def test_the_samples_have_no_problems_but_the_azure_data_stores_not_built_yet(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    """Package and account need Cosmos DB and a SQL database, which the operator does not provision in Azure yet:
    said as a problem of those two services (never a silent fallback), and nothing else."""
    assert _reasons(team_service, platform) == []
    assert validate_platform(platform) == []
    not_provided = {name: [("StoreNotProvided", "spec.uses[0]", False)] for name in ("package", "account")}
    for svc in bundled_services(platform):
        assert _reasons(svc, platform) == not_provided.get(svc.name, [])


def test_a_call_to_a_service_that_does_not_exist(platform: DeliveryPlatform, team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["calls"].append({"name": "billing"})
    problems = validate_drone_service(
        DroneService.model_validate(team_service_doc), platform=platform, peers=bundled_services(platform)
    )
    assert [(p.reason, p.field, p.fatal) for p in problems] == [("UnknownDependency", "spec.calls[1]", False)]
    assert "fabrikam-shipping/billing" in problems[0].message


def test_a_namespace_that_belongs_to_no_team(platform: DeliveryPlatform, team_service: DroneService) -> None:
    team_service.metadata.namespace = "scratch"
    assert _reasons(team_service, platform) == [("NamespaceNotInPlatform", "metadata.namespace", True)]


def test_a_platform_that_does_not_exist(team_service: DroneService) -> None:
    assert _reasons(team_service, None) == [("PlatformNotFound", "spec.platformRef.name", True)]


def test_a_queue_the_platform_does_not_grant(platform: DeliveryPlatform, team_service_doc: dict[str, Any]) -> None:
    """Declared or not, a queue is the platform's to grant (a granted queue always exists: see tenancy tests)."""
    team_service_doc["spec"]["uses"].append({"kind": "queue", "name": "reports"})
    svc = DroneService.model_validate(team_service_doc)
    assert _reasons(svc, platform) == [("QueueNotGranted", "spec.uses[1].name", False)]


def test_secrets_without_a_key_vault(platform_doc: dict[str, Any], team_service_doc: dict[str, Any]) -> None:
    del platform_doc["spec"]["azure"]
    team_service_doc["spec"]["secrets"] = [{"name": "reports-db"}]
    svc = DroneService.model_validate(team_service_doc)
    assert ("KeyVaultNotConfigured", "spec.secrets", False) in _reasons(
        svc, DeliveryPlatform.model_validate(platform_doc)
    )


def test_two_services_on_the_same_ingress_path(platform: DeliveryPlatform, team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["expose"] = {"path": "/api/delivery"}
    svc = DroneService.model_validate(team_service_doc)
    assert _reasons(svc, platform) == [("IngressPathConflict", "spec.expose.path", False)]


def test_strip_prefix_needs_a_prefix_path(team_service_doc: dict[str, Any]) -> None:
    team_service_doc["spec"]["expose"] = {"path": "/api/reports", "pathType": "Exact", "stripPrefix": True}
    with pytest.raises(ValidationError, match=r"stripPrefix needs expose\.pathType Prefix"):
        DroneService.model_validate(team_service_doc)


def test_a_quota_too_small_for_the_teams_services(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["teams"][1]["quota"] = {"cpu": "2", "memory": "64Gi", "pods": 50}
    problems = validate_platform(DeliveryPlatform.model_validate(platform_doc))
    assert [(p.reason, p.field) for p in problems] == [("QuotaTooSmall", "spec.teams[1].quota.cpu")]
    assert "needs 4.5 cpu" in problems[0].message  # 2+1 schedulers x 500m, 2+1 telemetry pods x 1


def test_a_quota_that_cannot_hold_the_teams_services_at_their_hpa_maxima(platform_doc: dict[str, Any]) -> None:
    """Found reading the sample: shipping's quota (48 CPU then) could not let its autoscalers reach their maxima
    (65 CPU of limits): at peak the HPA would ask for pods the quota refuses, silently."""
    platform_doc["spec"]["teams"][0]["quota"] = {"cpu": "48", "memory": "64Gi", "pods": 120}
    problems = validate_platform(DeliveryPlatform.model_validate(platform_doc))
    assert [(p.reason, p.field) for p in problems] == [("QuotaBelowMaxima", "spec.teams[0].quota.cpu")]
    assert "needs 65 cpu for its bundled services at their HPA maxima" in problems[0].message
    assert "its quota allows 48" in problems[0].message
    platform_doc["spec"]["teams"][0]["quota"]["cpu"] = "65"
    assert validate_platform(DeliveryPlatform.model_validate(platform_doc)) == []

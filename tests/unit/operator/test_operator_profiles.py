"""Environment profiles: each chooses the stores' sizes a spec leaves out; a value in the spec always wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.api.profiles import Profile, fill
from fabrikam.operator.azure import Kind, platform_resources

SAMPLE = Path(__file__).parents[3] / "config" / "samples" / "platform-azure.yaml"


def _platform(profile: str | None, **stores: Any) -> DeliveryPlatform:
    document = yaml.safe_load(SAMPLE.read_text())
    spec = document["spec"]
    spec.pop("profile", None)
    if profile is not None:
        spec["profile"] = profile
    spec["messaging"] = {"serviceBus": stores.get("serviceBus", {})}
    spec["cache"] = {"redis": stores.get("redis", {})}
    spec["databases"] = {"cosmosDb": stores.get("cosmosDb", {}), "postgres": stores.get("postgres", {})}
    return DeliveryPlatform.model_validate(document)


def _bodies(platform: DeliveryPlatform) -> dict[Kind, Any]:
    return {r.kind: r.body for r in platform_resources(platform) if r.kind is not Kind.SERVICE_BUS_QUEUE}


def test_production_is_the_default_and_chooses_premium_zone_redundant_and_highly_available() -> None:
    bodies = _bodies(_platform(None))

    assert bodies[Kind.SERVICE_BUS_NAMESPACE]["sku"]["name"] == "Premium"
    assert bodies[Kind.SERVICE_BUS_NAMESPACE]["properties"]["zoneRedundant"] is True
    assert bodies[Kind.REDIS_CACHE]["properties"]["sku"] == {"name": "Premium", "family": "P", "capacity": 1}
    assert bodies[Kind.COSMOS_ACCOUNT]["properties"]["locations"][0]["isZoneRedundant"] is True
    assert bodies[Kind.POSTGRES_SERVER]["properties"]["highAvailability"]["mode"] == "ZoneRedundant"
    assert _platform(None).spec.profile is Profile.PRODUCTION


def test_development_does_not_mirror_production() -> None:
    """Seed: the dev and QA clusters ran production's Premium namespaces and caches."""
    bodies = _bodies(_platform("development"))

    assert bodies[Kind.SERVICE_BUS_NAMESPACE]["sku"] == {"name": "Standard", "tier": "Standard"}
    assert bodies[Kind.SERVICE_BUS_NAMESPACE]["properties"]["zoneRedundant"] is False
    assert bodies[Kind.REDIS_CACHE]["properties"]["sku"] == {"name": "Basic", "family": "C", "capacity": 0}
    assert "zones" not in bodies[Kind.REDIS_CACHE]
    assert bodies[Kind.COSMOS_ACCOUNT]["properties"]["backupPolicy"]["continuousModeProperties"]["tier"] == (
        "Continuous7Days"
    )
    [database] = [r for r in platform_resources(_platform("development")) if r.kind is Kind.MONGO_DATABASE]
    assert database.body["properties"]["options"]["autoscaleSettings"]["maxThroughput"] == 1000
    server = bodies[Kind.POSTGRES_SERVER]
    assert server["sku"] == {"name": "Standard_B1ms", "tier": "Burstable"}
    assert server["properties"]["highAvailability"] == {"mode": "Disabled"}
    assert server["properties"]["backup"]["backupRetentionDays"] == 7


def test_staging_sits_between() -> None:
    bodies = _bodies(_platform("staging"))

    assert bodies[Kind.SERVICE_BUS_NAMESPACE]["sku"]["name"] == "Standard"
    assert bodies[Kind.REDIS_CACHE]["properties"]["sku"]["name"] == "Standard"
    assert bodies[Kind.POSTGRES_SERVER]["sku"] == {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"}
    assert bodies[Kind.POSTGRES_SERVER]["properties"]["highAvailability"] == {"mode": "Disabled"}


def test_values_in_the_spec_win_over_the_profile() -> None:
    platform = _platform(
        "development",
        serviceBus={"sku": "Premium", "capacity": 2},
        redis={"sku": "Premium", "capacity": 2},
        cosmosDb={"maxThroughput": 8000},
        postgres={"skuName": "Standard_E4ds_v5", "backupRetentionDays": 35},
    )
    bodies = _bodies(platform)

    assert bodies[Kind.SERVICE_BUS_NAMESPACE]["sku"] == {"name": "Premium", "tier": "Premium", "capacity": 2}
    assert bodies[Kind.REDIS_CACHE]["properties"]["sku"]["capacity"] == 2
    [database] = [r for r in platform_resources(platform) if r.kind is Kind.MONGO_DATABASE]
    assert database.body["properties"]["options"]["autoscaleSettings"]["maxThroughput"] == 8000
    # A named size brings its tier (memory optimized), which has high availability; the profile's stays off.
    assert bodies[Kind.POSTGRES_SERVER]["sku"] == {"name": "Standard_E4ds_v5", "tier": "MemoryOptimized"}
    assert bodies[Kind.POSTGRES_SERVER]["properties"]["highAvailability"] == {"mode": "Disabled"}
    assert bodies[Kind.POSTGRES_SERVER]["properties"]["backup"]["backupRetentionDays"] == 35


def test_a_profile_that_cannot_give_what_the_spec_asks_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"cache\.redis\.shardCount need sku Premium"):
        _platform("development", redis={"zones": ["1", "2"]})
    with pytest.raises(ValidationError, match="highAvailability"):
        _platform("development", postgres={"highAvailability": "ZoneRedundant"})


def test_filling_leaves_what_it_does_not_understand_to_validation() -> None:
    assert fill("not a mapping") == "not a mapping"
    assert fill({"profile": "nightly"}) == {"profile": "nightly"}
    with pytest.raises(ValidationError, match="profile"):
        _platform("nightly")


def test_the_operator_fills_a_spec_as_kopf_hands_it_over() -> None:
    """kopf gives the handlers read-only mapping views, not dicts: the profile applies to them too."""
    import kopf

    body = kopf.Body(
        {"spec": {"profile": "development", "cache": {"redis": {}}, "messaging": {"serviceBus": {"queues": []}}}}
    )
    filled = fill(body.spec)

    assert filled["cache"]["redis"] == {"sku": "Basic", "capacity": 0}
    assert filled["messaging"]["serviceBus"]["sku"] == "Standard"

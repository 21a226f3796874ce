"""The API server itself refuses a Service Bus partitioning the operator could not honour, naming the field: the
CRD's CEL rules, checked on the real control plane (cost budget included), not only by pydantic."""

import json
import uuid
from typing import Any

import pytest
import yaml

from fabrikam.operator.api.platform import BundledServices

from ..conftest import install_crds

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module", autouse=True)
def crds(cluster: Any) -> None:
    install_crds(cluster)


DIGEST = "sha256:" + "f" * 64


def _platform(name: str, bus: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "metadata": {"name": name},
        "spec": {
            "image": {"repository": "fabrikam.azurecr.io/fabrikam/drone-delivery", "digest": DIGEST},
            "messaging": {"serviceBus": bus},
            "teams": [{"name": "team", "namespace": f"{name}-team", "costCenter": "cc-schema"}],
            "services": BundledServices.all_disabled(),
        },
    }


@pytest.mark.parametrize(
    ("bus", "field", "words"),
    [
        ({"sku": "Standard", "partitions": 2}, "spec.messaging.serviceBus.partitions", "needs sku Premium"),
        ({"sku": "Premium", "capacity": 2, "partitions": 4}, "spec.messaging.serviceBus.partitions", "multiple"),
        (
            {"sku": "Premium", "queues": [{"name": "delivery-requests", "partitioned": True}]},
            "spec.messaging.serviceBus.queues",
            "partitions all of its queues or none",
        ),
    ],
)
def test_a_partitioning_azure_would_refuse_is_refused_naming_the_field(
    cluster: Any, bus: dict[str, Any], field: str, words: str
) -> None:
    document = _platform(f"schema-{uuid.uuid4().hex[:6]}", bus)
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(document), check=False)
    assert result.returncode != 0
    assert field in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def test_the_partitions_of_a_namespace_are_fixed_once_created(cluster: Any) -> None:
    name = f"schema-{uuid.uuid4().hex[:6]}"
    document = _platform(name, {"sku": "Premium", "capacity": 4, "partitions": 2})
    created = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document), check=False)
    assert created.returncode == 0, created.stderr
    try:
        change = json.dumps({"spec": {"messaging": {"serviceBus": {"partitions": 4}}}})
        result = cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", change, check=False)
        assert result.returncode != 0
        assert "spec.messaging.serviceBus.partitions" in result.stderr
        assert "fixed when the namespace is created" in result.stderr
        # Anything else may still change.
        other = json.dumps({"spec": {"messaging": {"serviceBus": {"capacity": 8}}}})
        cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", other)
    finally:
        cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)


AZURE = {
    "subscriptionId": "00000000-0000-0000-0000-00000000c0de",
    "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "resourceGroup": "rg-schema",
    "location": "westus2",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subscriptionId", "00000000-0000-0000-0000-00000000beef"),
        ("resourceGroup", "rg-elsewhere"),
        ("location", "eastus"),
    ],
)
def test_where_the_azure_resources_live_cannot_change_but_spec_azure_can_go(
    cluster: Any, field: str, value: str
) -> None:
    """Moving them would leave the old resources behind with nobody to delete them: the API server refuses, naming
    the field and what to do instead. Other Azure settings change freely, and removing spec.azure altogether is
    allowed (the operator then releases the resources by their deletionPolicy)."""
    name = f"schema-{uuid.uuid4().hex[:6]}"
    document = _platform(name, {"sku": "Standard"})
    document["spec"]["azure"] = AZURE
    created = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document), check=False)
    assert created.returncode == 0, created.stderr
    try:
        move = json.dumps({"spec": {"azure": {field: value}}})
        refused = cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", move, check=False)
        assert refused.returncode != 0
        assert f"spec.azure.{field} is immutable" in refused.stderr, refused.stderr
        assert "delete the DeliveryPlatform and re-create it" in refused.stderr, refused.stderr
        live = json.loads(cluster.kubectl("get", "deliveryplatform", name, "-o", "json").stdout)
        assert live["spec"]["azure"][field] == AZURE[field]

        retagged = json.dumps({"spec": {"azure": {"tags": {"owner": "schema-test"}, "deletionPolicy": "Delete"}}})
        cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", retagged)
        cluster.kubectl(
            "patch", "deliveryplatform", name, "--type=json", "-p", '[{"op":"remove","path":"/spec/azure"}]'
        )
        live = json.loads(cluster.kubectl("get", "deliveryplatform", name, "-o", "json").stdout)
        assert "azure" not in live["spec"]
    finally:
        cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"databases": {"postgres": {}}}, "spec.databases", "needs spec.azure"),
        ({"azure": AZURE, "databases": {"cosmosDb": {}}}, "spec.databases.cosmosDb", "keyVaultName"),
        (
            {"azure": AZURE | {"keyVaultName": "kv-schema"}, "databases": {"cosmosDb": {"maxThroughput": 4500}}},
            "spec.databases.cosmosDb.maxThroughput",
            "multiple of 1000",
        ),
        (
            {"azure": AZURE, "databases": {"postgres": {"tier": "Burstable", "highAvailability": "ZoneRedundant"}}},
            "spec.databases.postgres.highAvailability",
            "Burstable has none",
        ),
        (
            {"azure": AZURE, "profile": "development", "databases": {"postgres": {"highAvailability": "SameZone"}}},
            "spec.databases.postgres.tier",
            "profile development",
        ),
        (
            {"profile": "staging", "cache": {"redis": {"zones": ["1", "2"]}}},
            "spec.cache.redis.sku",
            "need sku Premium",
        ),
        (
            {"profile": "development", "messaging": {"serviceBus": {"capacity": 2}}},
            "spec.messaging.serviceBus.sku",
            "need sku Premium",
        ),
        ({"azure": AZURE, "recovery": {"secondaryLocation": "westus2"}}, "spec.recovery", "must differ"),
        ({"recovery": {"secondaryLocation": "eastus"}}, "spec.recovery", "needs spec.azure"),
    ],
)
def test_databases_recovery_and_profiles_azure_could_not_honour_are_refused_naming_the_field(
    cluster: Any, spec: dict[str, Any], field: str, words: str
) -> None:
    document = _platform(f"schema-{uuid.uuid4().hex[:6]}", {"sku": "Standard"})
    del document["spec"]["messaging"]
    document["spec"] |= spec
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(document), check=False)
    assert result.returncode != 0, f"accepted: {spec}"
    assert field in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def test_a_profile_fills_only_what_the_spec_leaves_out_and_shows_in_kubectl_get(cluster: Any) -> None:
    """The apiserver writes no store size into the object (the CRD has no default there), so the operator can tell
    the profile's choice from the spec's; the profile is a column of `kubectl get`."""
    name = f"schema-{uuid.uuid4().hex[:6]}"
    document = _platform(name, {})
    document["spec"]["profile"] = "development"
    document["spec"]["cache"] = {"redis": {}}
    created = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document), check=False)
    assert created.returncode == 0, created.stderr
    try:
        live = json.loads(cluster.kubectl("get", "deliveryplatform", name, "-o", "json").stdout)
        assert live["spec"]["messaging"]["serviceBus"] == {"partitions": 1}  # no sku written for it
        assert live["spec"]["cache"]["redis"] == {"minimumTlsVersion": "1.2"}
        table = cluster.kubectl("get", "deliveryplatform", name).stdout.splitlines()
        assert table[0].split()[:2] == ["NAME", "PROFILE"]
        assert table[1].split()[:2] == [name, "development"]
    finally:
        cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)


def test_the_secondary_location_cannot_move_but_recovery_can_go(cluster: Any) -> None:
    name = f"schema-{uuid.uuid4().hex[:6]}"
    document = _platform(name, {"sku": "Premium"})
    document["spec"] |= {"azure": AZURE, "recovery": {"secondaryLocation": "westcentralus"}}
    created = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document), check=False)
    assert created.returncode == 0, created.stderr
    try:
        move = json.dumps({"spec": {"recovery": {"secondaryLocation": "eastus"}}})
        refused = cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", move, check=False)
        assert refused.returncode != 0
        assert "spec.recovery.secondaryLocation is immutable" in refused.stderr, refused.stderr
        cluster.kubectl(
            "patch", "deliveryplatform", name, "--type=json", "-p", '[{"op":"remove","path":"/spec/recovery"}]'
        )
    finally:
        cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)

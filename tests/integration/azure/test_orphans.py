"""What a spec stops naming in Azure is released as deleting its owner would release it, by the operator process
against the local control plane and the fake ARM: a service's identity when `identity.azure` turns false, a
platform's cache when `spec.cache.redis` goes, everything (its services' identities first) when `spec.azure` goes.
Stores by the deletionPolicy; the finalizer comes off only once Azure confirmed."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from fabrikam.operator.api.platform import BundledServices

from .conftest import azure_platform

pytestmark = pytest.mark.cluster

FINALIZER = "dronedelivery.fabrikam.io/azure-resources"
DIGEST = "sha256:" + "c" * 64
IDENTITIES = "Microsoft.ManagedIdentity/userAssignedIdentities"


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _finalizers(cluster: Any, *args: str) -> list[str]:
    return list(_get(cluster, *args)["metadata"].get("finalizers", []))


def _patch(cluster: Any, *args: str, operations: list[dict[str, Any]]) -> None:
    cluster.kubectl("patch", *args, "--type=json", "-p", json.dumps(operations))


def _ours(arm: Any, type_name: str, resource_group: str) -> list[str]:
    return [p for p in arm.paths(type_name) if f"/resourcegroups/{resource_group.lower()}/" in p.lower()]


@dataclass
class Provisioned:
    """A platform with Azure (no bundled services: the team's own service is the only identity) and that service."""

    platform: dict[str, Any]
    service: dict[str, Any]
    identity: str  # the service's identity, as ARM names it

    @property
    def name(self) -> str:
        return str(self.platform["metadata"]["name"])

    @property
    def group(self) -> str:
        return str(self.platform["spec"]["azure"]["resourceGroup"])

    @property
    def service_args(self) -> tuple[str, str, str]:
        """kubectl's words for the service."""
        return ("droneservice", self.service["metadata"]["name"], f"-n={self.service['metadata']['namespace']}")


def _service(platform: dict[str, Any], name: str, uses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": name, "namespace": platform["spec"]["teams"][0]["namespace"]},
        "spec": {
            "platformRef": {"name": platform["metadata"]["name"]},
            "image": {"repository": f"fabrikam.azurecr.io/shipping/{name}", "digest": DIGEST},
            "identity": {"azure": True},
            "uses": uses,
        },
    }


def _stores_provisioned(cluster: Any, name: str) -> bool:
    """The platform's stores exist in Azure (without bundled services it never reports Ready: 0/0 services)."""
    resources = (_get(cluster, "deliveryplatform", name).get("status") or {}).get("azureResources", [])
    states = {r["kind"]: r["state"] for r in resources}
    return states.get("ServiceBusNamespace") == states.get("RedisCache") == "Succeeded"


@contextmanager
def _provisioned(
    cluster: Any, arm: Any, kit: Any, eventually: Any, deletion_policy: str, uses: list[dict[str, Any]]
) -> Iterator[Provisioned]:
    """Applies the platform and then its service, waits for the service's identity; deletes the platform after."""
    platform = azure_platform(kit.sample_platform(), deletion_policy)
    platform["spec"]["services"] = BundledServices.all_disabled()
    service = _service(platform, "returns", uses)
    try:
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
        eventually(
            lambda: _stores_provisioned(cluster, platform["metadata"]["name"]),
            timeout=180,
            interval=1,
            what="the platform's Service Bus and Redis",
        )
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(service))
        args = ("droneservice", "returns", f"-n={service['metadata']['namespace']}")
        eventually(
            lambda: (_get(cluster, *args).get("status") or {}).get("identityClientId"),
            timeout=120,
            interval=1,
            what="the service's identity",
        )
        assert FINALIZER in _finalizers(cluster, *args)
        [identity] = _ours(arm, IDENTITIES, platform["spec"]["azure"]["resourceGroup"])
        yield Provisioned(platform, service, identity)
    finally:
        cluster.kubectl("delete", "deliveryplatform", platform["metadata"]["name"], "--wait=false", check=False)


def _drop_azure(cluster: Any, eventually: Any, name: str) -> None:
    """Removes the platform's spec.azure and waits until the operator released what it had there."""
    _patch(cluster, "deliveryplatform", name, operations=[{"op": "remove", "path": "/spec/azure"}])
    eventually(
        lambda: FINALIZER not in _finalizers(cluster, "deliveryplatform", name),
        timeout=120,
        interval=1,
        what="the platform's finalizer released",
    )


def test_a_service_that_turns_its_identity_off_gives_back_identity_and_grants_then_its_finalizer(
    cluster: Any, azure_operator: Any, arm: Any, kit: Any, eventually: Any
) -> None:
    with _provisioned(cluster, arm, kit, eventually, "Retain", uses=[{"kind": "redis", "name": "cache"}]) as given:
        eventually(
            lambda: _ours(arm, "Microsoft.Cache/redis/accessPolicyAssignments", given.group),
            timeout=60,
            interval=1,
            what="the service's Redis access policy assignment",
        )

        _patch(
            cluster, *given.service_args, operations=[{"op": "replace", "path": "/spec/identity/azure", "value": False}]
        )

        eventually(
            lambda: FINALIZER not in _finalizers(cluster, *given.service_args),
            timeout=120,
            interval=1,
            what="the service's finalizer released",
        )
        assert arm.get(given.identity) is None
        assert _ours(arm, f"{IDENTITIES}/federatedIdentityCredentials", given.group) == []
        assert _ours(arm, "Microsoft.Cache/redis/accessPolicyAssignments", given.group) == []
        policies = [arm.get(p) for p in _ours(arm, "Microsoft.Cache/redis/accessPolicies", given.group)]
        assert [p["name"] for p in policies if p["properties"]["type"] == "Custom"] == []
        # The platform's Retained stores are not the service's to release.
        assert len(_ours(arm, "Microsoft.Cache/redis", given.group)) == 1
        # azure-core's request and response lines (INFO) stay out of the operator's log.
        log = azure_operator.log.read_text()
        assert arm.calls("DELETE", given.identity)
        assert "Request URL:" not in log
        assert "Response status:" not in log


def test_a_platform_that_drops_its_cache_then_spec_azure_deletes_each_and_its_services_identities_first(
    cluster: Any, azure_operator: Any, arm: Any, kit: Any, eventually: Any
) -> None:
    with _provisioned(cluster, arm, kit, eventually, "Delete", uses=[]) as given:
        [cache] = _ours(arm, "Microsoft.Cache/redis", given.group)
        [namespace] = _ours(arm, "Microsoft.ServiceBus/namespaces", given.group)

        _patch(cluster, "deliveryplatform", given.name, operations=[{"op": "remove", "path": "/spec/cache/redis"}])

        eventually(lambda: arm.get(cache) is None, timeout=120, interval=1, what="the dropped cache deleted")
        assert arm.get(namespace) is not None
        assert arm.get(given.identity) is not None
        assert FINALIZER in _finalizers(cluster, "deliveryplatform", given.name)

        _drop_azure(cluster, eventually, given.name)
        assert _ours(arm, "Microsoft.ServiceBus/namespaces", given.group) == []
        assert _ours(arm, "Microsoft.ServiceBus/namespaces/queues", given.group) == []
        assert _ours(arm, IDENTITIES, given.group) == []
        assert FINALIZER not in _finalizers(cluster, *given.service_args)
        deletes = [c.path.lower() for c in arm.calls("DELETE")]
        assert deletes.index(given.identity.lower()) < deletes.index(namespace.lower())


def test_a_platform_that_drops_spec_azure_under_retain_keeps_its_stores_but_not_its_finalizer(
    cluster: Any, azure_operator: Any, arm: Any, kit: Any, eventually: Any
) -> None:
    with _provisioned(cluster, arm, kit, eventually, "Retain", uses=[]) as given:
        stores = _ours(arm, "Microsoft.ServiceBus/namespaces", given.group) + _ours(
            arm, "Microsoft.Cache/redis", given.group
        )

        _drop_azure(cluster, eventually, given.name)
        assert len(stores) == 2
        assert all(arm.get(store) is not None for store in stores)
        assert not [c for c in arm.calls("DELETE") if c.path.lower() in {s.lower() for s in stores}]
        # Identities go with what named them, whatever the stores' policy, as when the platform is deleted.
        assert arm.get(given.identity) is None
        assert FINALIZER not in _finalizers(cluster, *given.service_args)
        # Neither status goes on naming what the spec no longer has.
        eventually(
            lambda: "azureResources" not in (_get(cluster, "deliveryplatform", given.name).get("status") or {}),
            timeout=30,
            what="the platform's status without Azure resources",
        )
        eventually(
            lambda: not (_get(cluster, *given.service_args).get("status") or {}).get("identityClientId"),
            timeout=30,
            what="the service's status without an identity",
        )

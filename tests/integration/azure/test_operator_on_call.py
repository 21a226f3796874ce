"""The operator process against the local control plane and the fake ARM: a platform routing its alerts on call
without an identity of the user's gets the identity reading the key, once, its client id on the keys pods'
ServiceAccount and SecretProviderClass of every team namespace, listed in its status; it goes when the user names an
identity of their own, and with the platform."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.mgmt.keyvault.aio import KeyVaultManagementClient

from .conftest import OPERATOR_SUBSCRIPTION, StaticCredential, azure_platform, with_key_vault

pytestmark = pytest.mark.cluster

USERS_OWN = "6b1d3f5a-7c9e-4b2d-8f4a-1c3e5a7b9d0f"
IDENTITIES = "Microsoft.ManagedIdentity/userAssignedIdentities"
CREDENTIALS = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
ROLE_ASSIGNMENTS = "Microsoft.Authorization/roleAssignments"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ALERTMANAGER_CONFIGS = "alertmanagerconfigs.monitoring.coreos.com"
# The Prometheus Operator's AlertmanagerConfig with an open schema (the operator renders the on-call objects only
# where the API server serves the kind; tests/integration/operator/test_monitoring.py checks them against the real
# schema).
ALERTMANAGER_CONFIG_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": ALERTMANAGER_CONFIGS},
    "spec": {
        "group": "monitoring.coreos.com",
        "names": {
            "kind": "AlertmanagerConfig",
            "listKind": "AlertmanagerConfigList",
            "plural": "alertmanagerconfigs",
            "singular": "alertmanagerconfig",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


@pytest.fixture(scope="module")
def alertmanager_configs(cluster: Any) -> Iterator[None]:
    """Served before the module's operator starts (it reads discovery when first needed); the real CRD, if another
    module installed it, is left as it is."""
    ours = cluster.kubectl("get", "crd", ALERTMANAGER_CONFIGS, check=False).returncode != 0
    if ours:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(ALERTMANAGER_CONFIG_CRD))
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{ALERTMANAGER_CONFIGS}")
    yield
    if ours:
        cluster.kubectl("delete", "crd", ALERTMANAGER_CONFIGS, "--ignore-not-found", "--wait=true", "--timeout=60s")


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _maybe(cluster: Any, *args: str) -> dict[str, Any]:
    found = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else {}


async def _put_key(arm: Any, ca: Path, resource_group: str, vault: str) -> None:
    """What a person does before setting onCall: the PagerDuty key into the vault."""
    client = KeyVaultManagementClient(
        StaticCredential(), OPERATOR_SUBSCRIPTION, base_url=arm.base_url, connection_verify=str(ca)
    )
    async with client:
        await client.secrets.create_or_update(
            resource_group, vault, "pagerduty-routing-key", {"properties": {"value": "routing-key"}}
        )


def _on_call_platform(kit: Any, arm: Any, arm_tls: Any) -> dict[str, Any]:
    platform = azure_platform(kit.sample_platform(), "Delete")
    vault = with_key_vault(platform, arm)
    asyncio.run(_put_key(arm, arm_tls[0], platform["spec"]["azure"]["resourceGroup"], vault))
    platform["spec"]["observability"]["onCall"] = {"pagerDuty": {"routingKeySecret": "pagerduty-routing-key"}}
    return platform


def _reader(arm: Any, platform: dict[str, Any]) -> str | None:
    group = platform["spec"]["azure"]["resourceGroup"].lower()
    name = f"/id-oncall-{platform['metadata']['name']}"
    return next((p for p in arm.paths(IDENTITIES) if group in p.lower() and p.endswith(name)), None)


def _read_by(cluster: Any, namespace: str) -> tuple[str | None, str | None]:
    """The client id on the keys pods' ServiceAccount and in the SecretProviderClass of a team namespace."""
    account = _maybe(cluster, "serviceaccount", "fabrikam-oncall-keys", "-n", namespace)
    provider = _maybe(cluster, "secretproviderclass", "fabrikam-oncall", "-n", namespace)
    return (
        (account.get("metadata", {}).get("annotations") or {}).get("azure.workload.identity/client-id"),
        provider.get("spec", {}).get("parameters", {}).get("clientID"),
    )


def _of(arm: Any, kind: str, reader: str, principal: str) -> list[str]:
    """The credentials of the reader, or the role assignments of its principal."""
    if kind == CREDENTIALS:
        return [p for p in arm.paths(kind) if p.lower().startswith(reader.lower() + "/")]
    return [p for p in arm.paths(kind) if (arm.get(p) or {}).get("properties", {}).get("principalId") == principal]


def _deleted(cluster: Any, eventually: Any, name: str) -> None:
    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false")
    eventually(
        lambda: cluster.kubectl("get", "deliveryplatform", name, check=False).returncode != 0,
        timeout=180,
        what="the platform to be deleted after Azure confirmed",
    )


def test_the_reader_is_provisioned_once_read_by_the_keys_pods_reported_and_deleted_with_the_platform(
    cluster: Any, alertmanager_configs: None, secret_provider_classes: None, azure_operator: Any, arm: Any,
    arm_tls: Any, kit: Any, eventually: Any,
) -> None:  # fmt: skip
    platform = _on_call_platform(kit, arm, arm_tls)
    name = platform["metadata"]["name"]
    namespaces = [team["namespace"] for team in platform["spec"]["teams"]]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=240)

    reader = _reader(arm, platform)
    assert reader is not None
    identity = arm.get(reader)["properties"]
    for namespace in namespaces:
        eventually(
            lambda ns=namespace: _read_by(cluster, ns) == (identity["clientId"], identity["clientId"]),
            what=f"the keys objects of {namespace} read by the operator's identity",
        )
    subjects = sorted(arm.get(p)["properties"]["subject"] for p in _of(arm, CREDENTIALS, reader, ""))
    assert subjects == sorted(f"system:serviceaccount:{ns}:fabrikam-oncall-keys" for ns in namespaces)
    [grant] = [arm.get(p)["properties"] for p in _of(arm, ROLE_ASSIGNMENTS, reader, identity["principalId"])]
    assert grant["scope"].endswith("/secrets/pagerduty-routing-key")
    assert grant["roleDefinitionId"].endswith(KEY_VAULT_SECRETS_USER)
    status = _get(cluster, "deliveryplatform", name)["status"]["azureResources"]
    listed = {(r["kind"], r["name"]): r["state"] for r in status}
    assert listed[("UserAssignedIdentity", f"id-oncall-{name}")] == "Succeeded"
    assert [k for k in listed if k[0] == "FederatedIdentityCredential"] == [
        ("FederatedIdentityCredential", f"{ns}-fabrikam-oncall-keys") for ns in namespaces
    ]
    assert [r for r in status if r["kind"] == "RoleAssignment" and "/secrets/pagerduty-routing-key/" in r["id"]]
    assert len([c for c in arm.calls("PUT") if c.path == reader]) == 1

    _deleted(cluster, eventually, name)
    assert arm.get(reader) is None
    assert _of(arm, CREDENTIALS, reader, "") == []
    assert _of(arm, ROLE_ASSIGNMENTS, reader, identity["principalId"]) == []


def test_an_identity_the_user_names_replaces_the_operators_which_goes(
    cluster: Any, alertmanager_configs: None, secret_provider_classes: None, azure_operator: Any, arm: Any,
    arm_tls: Any, kit: Any, eventually: Any,
) -> None:  # fmt: skip
    platform = _on_call_platform(kit, arm, arm_tls)
    name = platform["metadata"]["name"]
    namespace = platform["spec"]["teams"][0]["namespace"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    reader = eventually(lambda: _reader(arm, platform), timeout=120, what="the operator's identity")
    identity = arm.get(reader)["properties"]
    eventually(
        lambda: _read_by(cluster, namespace)[0] == identity["clientId"],
        timeout=120,
        what="the keys' ServiceAccount read by the operator's identity",
    )

    patch = {"spec": {"observability": {"onCall": {"identityClientId": USERS_OWN}}}}
    cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", json.dumps(patch))

    eventually(
        lambda: _read_by(cluster, namespace) == (USERS_OWN, USERS_OWN),
        timeout=120,
        what="the keys objects read by the user's identity",
    )
    eventually(lambda: arm.get(reader) is None, timeout=120, what="the operator's identity to be deleted")
    assert _of(arm, CREDENTIALS, reader, "") == []
    assert _of(arm, ROLE_ASSIGNMENTS, reader, identity["principalId"]) == []
    eventually(
        lambda: (
            not [
                r
                for r in (_get(cluster, "deliveryplatform", name).get("status") or {}).get("azureResources", [])
                if r["kind"] == "UserAssignedIdentity" and r["name"] == f"id-oncall-{name}"
            ]
        ),
        timeout=120,
        what="the operator's identity gone from the status",
    )
    _deleted(cluster, eventually, name)


def test_a_platform_that_drops_spec_azure_releases_its_reader_before_its_finalizer(
    cluster: Any, alertmanager_configs: None, secret_provider_classes: None, azure_operator: Any, arm: Any,
    arm_tls: Any, kit: Any, eventually: Any,
) -> None:  # fmt: skip
    """Only the last handled spec says where the reader lives once spec.azure is gone (onCall goes with it: the key
    was in the platform's vault)."""
    platform = _on_call_platform(kit, arm, arm_tls)
    name = platform["metadata"]["name"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=240)
    reader = _reader(arm, platform)
    assert reader is not None
    principal = arm.get(reader)["properties"]["principalId"]

    drop = [{"op": "remove", "path": "/spec/observability/onCall"}, {"op": "remove", "path": "/spec/azure"}]
    cluster.kubectl("patch", "deliveryplatform", name, "--type=json", "-p", json.dumps(drop))

    eventually(
        lambda: (
            "dronedelivery.fabrikam.io/azure-resources"
            not in _get(cluster, "deliveryplatform", name)["metadata"].get("finalizers", [])
        ),
        timeout=120,
        what="the platform's finalizer released",
    )
    assert arm.get(reader) is None
    assert _of(arm, CREDENTIALS, reader, "") == []
    assert _of(arm, ROLE_ASSIGNMENTS, reader, principal) == []
    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false")

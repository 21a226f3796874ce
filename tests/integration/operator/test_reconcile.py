"""The operator reconciles a whole platform on a real API server: create, change, drift, bad input, restart, delete."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

BUNDLED = (
    "ingestion",
    "workflow",
    "delivery",
    "drone-scheduler",
    "drone-telemetry",
    "package",
    "notification",
    "account",
)


@pytest.fixture(scope="module")
def ready_platform(cluster: Any, operator: Any, kit: Any) -> Iterator[dict[str, Any]]:
    """One full sample platform, Ready, shared by the tests of this module."""
    platform = kit.sample_platform()
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{platform['metadata']['name']}", timeout=180)
    yield platform
    cluster.kubectl("delete", "deliveryplatform", platform["metadata"]["name"], "--wait=false", check=False)


def _namespaces(platform: dict[str, Any]) -> dict[str, str]:
    """Bundled service → its team namespace."""
    return {svc: team["namespace"] for team in platform["spec"]["teams"] for svc in team["services"]}


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def test_platform_becomes_ready_with_every_child_hardened(cluster: Any, ready_platform: dict[str, Any]) -> None:
    name = ready_platform["metadata"]["name"]
    status = _get(cluster, "deliveryplatform", name)["status"]
    assert status["servicesReady"] == "8/8"
    # Its Events are where `kubectl describe` looks for those of a cluster-scoped object.
    described = cluster.kubectl("describe", "deliveryplatform", name).stdout.split("Events:", 1)[-1]
    assert "Applied" in described, described
    assert {t["name"]: t["servicesReady"] for t in status["teams"]} == {
        "shipping": "3/3",
        "fleet": "2/2",
        "customer": "3/3",
    }
    for team in ready_platform["spec"]["teams"]:
        labels = _get(cluster, "namespace", team["namespace"])["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        kinds = {
            i["kind"]
            for i in _get(cluster, "resourcequota,limitrange,networkpolicy,rolebinding", "-n", team["namespace"])[
                "items"
            ]
        }
        assert kinds == {"ResourceQuota", "LimitRange", "NetworkPolicy", "RoleBinding"}
    for svc, namespace in _namespaces(ready_platform).items():
        deployment = _get(cluster, "deployment", svc, "-n", namespace)
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["resources"]["limits"]
        assert container["resources"]["requests"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert "@sha256:" in container["image"]
        hpa = _get(cluster, "hpa", svc, "-n", namespace)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["minReplicas"] >= 2
        assert _get(cluster, "pdb", svc, "-n", namespace)["apiVersion"] == "policy/v1"
        service = _get(cluster, "droneservice", svc, "-n", namespace)
        assert service["status"]["readyReplicas"] >= 2
        ready = next(c for c in service["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        assert ready["observedGeneration"] == service["metadata"]["generation"]
    default_objects = _get(
        cluster, "deployment,service,configmap", "-n", "default", "-l", "app.kubernetes.io/managed-by=fabrikam-operator"
    )
    assert default_objects["items"] == []


def test_pods_really_run_in_the_restricted_namespaces(cluster: Any, ready_platform: dict[str, Any]) -> None:
    for team in ready_platform["spec"]["teams"]:
        pods = _get(cluster, "pods", "-n", team["namespace"])["items"]
        assert pods, team["namespace"]
        assert all(p["status"]["phase"] == "Running" for p in pods)


def test_drift_is_reverted_within_seconds(cluster: Any, ready_platform: dict[str, Any], eventually: Any) -> None:
    namespace = _namespaces(ready_platform)["ingestion"]
    container = "/spec/template/spec/containers/0"
    edit = [
        {"op": "remove", "path": f"{container}/resources/limits"},
        {"op": "replace", "path": f"{container}/securityContext/allowPrivilegeEscalation", "value": True},
    ]
    cluster.kubectl("patch", "deployment", "ingestion", "-n", namespace, "--type=json", "-p", json.dumps(edit))
    started = time.monotonic()

    def restored() -> bool:
        container = _get(cluster, "deployment", "ingestion", "-n", namespace)["spec"]["template"]["spec"]["containers"][
            0
        ]
        return (
            bool(container["resources"].get("limits"))
            and container["securityContext"]["allowPrivilegeEscalation"] is False
        )

    eventually(restored, timeout=30, what="the operator to revert the edit")
    events = _get(cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=ingestion")["items"]
    reasons = {(e["reason"], e["type"]) for e in events if e["involvedObject"]["kind"] == "DroneService"}
    assert ("Applied", "Normal") in reasons
    assert ("DriftReverted", "Normal") in reasons
    assert time.monotonic() - started < 30
    cluster.kubectl("delete", "service", "ingestion", "-n", namespace)
    eventually(
        lambda: cluster.kubectl("get", "service", "ingestion", "-n", namespace, check=False).returncode == 0,
        timeout=30,
        what="the deleted Service to come back",
    )


def test_a_spec_change_rolls_out(cluster: Any, ready_platform: dict[str, Any], eventually: Any, kit: Any) -> None:
    name = ready_platform["metadata"]["name"]
    namespace = _namespaces(ready_platform)["delivery"]
    before = _get(cluster, "deployment", "delivery", "-n", namespace)["spec"]["template"]["metadata"]["annotations"]
    cluster.kubectl(
        "patch", "deliveryplatform", name, "--type=merge",
        "-p", '{"spec": {"services": {"delivery": {"config": [{"name": "ETA_SPEED_MPS", "value": "17"}]}}}}',
    )  # fmt: skip

    def rolled_out() -> bool:
        deployment = _get(cluster, "deployment", "delivery", "-n", namespace)
        return deployment["spec"]["template"]["metadata"]["annotations"] != before

    eventually(rolled_out, timeout=60, what="a new pod template")
    config = _get(cluster, "configmap", "delivery-config", "-n", namespace)["data"]
    assert config["ETA_SPEED_MPS"] == "17"
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=120)
    service = _get(cluster, "droneservice", "delivery", "-n", namespace)
    assert service["status"]["observedGeneration"] == service["metadata"]["generation"] == 2


def test_invalid_specs_are_rejected_by_the_api_server_naming_the_field(
    cluster: Any, ready_platform: dict[str, Any]
) -> None:
    namespace = _namespaces(ready_platform)["ingestion"]
    base = {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {
            "platformRef": {"name": ready_platform["metadata"]["name"]},
            "image": {"repository": "example.azurecr.io/x", "digest": "sha256:" + "a" * 64},
        },
    }
    cases = [
        ({"image": {"repository": "example.azurecr.io/x", "digest": "latest"}}, "spec.image.digest"),
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}, "maxReplicas"),
        ({"autoscaling": {"minReplicas": 1, "maxReplicas": 3}}, "spec.autoscaling.minReplicas"),
        (
            {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}},
            "spec.resources",
        ),
        ({"uses": [{"kind": "redis", "name": "cache", "access": ["send"]}]}, "spec.uses[0].access"),
        ({"expose": {"path": "/api/x", "pathType": "Exact", "stripPrefix": True}}, "spec.expose.stripPrefix"),
    ]
    for override, field in cases:
        document = {**base, "spec": {**base["spec"], **override}}
        result = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document), check=False)
        assert result.returncode != 0, override
        assert field in result.stderr, (field, result.stderr)
    assert cluster.kubectl("get", "droneservice", "bad", "-n", namespace, check=False).returncode != 0


def test_a_service_outside_the_platform_teams_is_degraded_with_an_event(
    cluster: Any, ready_platform: dict[str, Any], namespace: str, eventually: Any, operator: Any
) -> None:
    document = {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": "stray", "namespace": namespace},
        "spec": {
            "platformRef": {"name": ready_platform["metadata"]["name"]},
            "image": {"repository": "example.azurecr.io/x", "digest": "sha256:" + "b" * 64},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document))

    def degraded() -> Any:
        conditions = _get(cluster, "droneservice", "stray", "-n", namespace).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Degraded" and c["status"] == "True"), None)

    condition = eventually(degraded, timeout=30, what="Degraded=True")
    assert condition["reason"] == "NamespaceNotInPlatform"
    assert "metadata.namespace" in condition["message"]
    events = _get(cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=stray")["items"]
    assert any(e["reason"] == "NamespaceNotInPlatform" and e["type"] == "Warning" for e in events)
    assert _get(cluster, "deployments", "-n", namespace)["items"] == []
    assert operator.process.poll() is None


def test_an_idle_resync_and_an_operator_restart_write_nothing(
    cluster: Any, ready_platform: dict[str, Any], operator: Any, kit: Any, eventually: Any
) -> None:
    kit.wait_ready(cluster, f"deliveryplatform/{ready_platform['metadata']['name']}", timeout=120)
    # The API server counts every client's writes: the namespace controller deleting the objects of earlier tests'
    # namespaces (seen: DELETEs of networkpolicies, roles, quotas) would count as ours.
    _until_earlier_tests_are_gone(cluster, ready_platform["metadata"]["name"])
    time.sleep(12)  # let in-flight status updates of earlier tests settle
    idle_start = _operator_writes(kit, cluster)
    resyncs = operator.metric("fabrikam_operator_reconciles_total", kind="DroneService")
    eventually(
        lambda: operator.metric("fabrikam_operator_reconciles_total", kind="DroneService") >= resyncs + 8,
        timeout=60,
        what="a full idle resync of the eight services",
    )
    idle_end = _operator_writes(kit, cluster)
    assert {
        key: count - idle_start.get(key, 0) for key, count in idle_end.items() if count != idle_start.get(key)
    } == {}
    assert operator.metric("fabrikam_operator_managed_objects", kind="Deployment") >= 8
    assert operator.metric("fabrikam_operator_apply_total", outcome="skipped") > 0
    assert operator.metric("fabrikam_operator_reconcile_duration_seconds_count", kind="DroneService") >= 8

    operator.stop()
    _until_earlier_tests_are_gone(cluster, ready_platform["metadata"]["name"])
    before_restart = _operator_writes(kit, cluster)
    statuses_before = _statuses(cluster)
    operator.start()
    eventually(
        lambda: operator.metric("fabrikam_operator_reconciles_total", kind="DroneService", result="unchanged") >= 8,
        timeout=60,
        what="the restarted operator to resume every service",
    )
    time.sleep(4)  # one platform status refresh period
    after_restart = _operator_writes(kit, cluster)
    written = {k: n - before_restart.get(k, 0) for k, n in after_restart.items() if n != before_restart.get(k)}
    assert written == {}, f"{written}; statuses changed: {_changed_statuses(statuses_before, _statuses(cluster))}"


def _until_earlier_tests_are_gone(cluster: Any, platform: str, limit: float = 180) -> None:
    """Waits for earlier tests' platforms, and the namespaces they own, to be deleted: the garbage collector and the
    namespace controller delete their children meanwhile, and our operator writes the status of their services as
    their platform goes. Something stuck on a finalizer (nothing happening) is left after `limit`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        others = [p for p in _get(cluster, "deliveryplatforms")["items"] if p["metadata"]["name"] != platform]
        namespaces = _get(cluster, "namespaces")["items"]
        if not others and not any(ns.get("status", {}).get("phase") == "Terminating" for ns in namespaces):
            return
        time.sleep(2)


def _operator_writes(kit: Any, cluster: Any) -> dict[str, int]:
    """The writes the API server counted for the operator's kinds, but DELETEs: the operator has no delete
    permission (and deletes nothing without Azure); those are the garbage collector's and namespace controller's."""
    return {key: n for key, n in kit.apiserver_writes_by_resource(cluster).items() if not key.startswith("DELETE ")}


def _statuses(cluster: Any) -> dict[str, Any]:
    """Every DroneService's and platform's status (leftovers of other modules included), keyed by object."""
    items = _get(cluster, "droneservices,deliveryplatforms", "-A")["items"]
    return {f"{i['kind']} {i['metadata'].get('namespace', '')}/{i['metadata']['name']}": i.get("status") for i in items}


def _changed_statuses(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: {"before": before.get(key), "after": new} for key, new in after.items() if before.get(key) != new}


def test_deleting_the_platform_collects_everything(cluster: Any, operator: Any, kit: Any, eventually: Any) -> None:
    platform = kit.sample_platform()
    name = platform["metadata"]["name"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=180)
    cluster.kubectl("delete", "deliveryplatform", name, "--timeout=120s")
    namespaces = [t["namespace"] for t in platform["spec"]["teams"]]

    def gone() -> bool:
        return all(cluster.kubectl("get", "namespace", ns, check=False).returncode != 0 for ns in namespaces)

    eventually(gone, timeout=120, what="the team namespaces to be deleted")

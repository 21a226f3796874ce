"""The escape hatches of Azure Service Operator's users, on a real API server: an existing object is adopted with an
Event, `reconcile-policy: skip` observes only, `detach-on-delete` leaves a service's and a platform's children."""

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
POLICY = "dronedelivery.fabrikam.io/reconcile-policy"
FINALIZER = "dronedelivery.fabrikam.io/detach-children"


@pytest.fixture(scope="module")
def platform(cluster: Any, operator: Any, kit: Any) -> Iterator[dict[str, Any]]:
    found = kit.sample_platform()
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(found))
    kit.wait_ready(cluster, f"deliveryplatform/{found['metadata']['name']}", timeout=180)
    yield found
    cluster.kubectl("delete", "deliveryplatform", found["metadata"]["name"], "--wait=false", check=False)


def _get(cluster: Any, *args: str) -> Any:
    found = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def _service(platform: dict[str, Any], name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "config" / "samples" / "team-service.yaml").read_text())
    document["metadata"] = {"name": name, "namespace": platform["spec"]["teams"][0]["namespace"]}
    document["spec"]["platformRef"]["name"] = platform["metadata"]["name"]
    for key in ("calls", "uses"):
        document["spec"].pop(key, None)
    return document


def _events(cluster: Any, namespace: str, name: str) -> dict[str, str]:
    listed = _get(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return {e["reason"]: e["message"] for e in listed["items"] if e["involvedObject"]["kind"] == "DroneService"}


def test_an_existing_object_with_a_childs_name_is_adopted_with_an_event(
    cluster: Any, platform: dict[str, Any], eventually: Any
) -> None:
    svc = _service(platform, f"adopt-{uuid.uuid4().hex[:4]}")
    namespace, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
    cluster.kubectl("create", "configmap", f"{name}-config", "-n", namespace, "--from-literal=LEFT_BY_HAND=1")

    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(svc))

    adopted = eventually(lambda: _events(cluster, namespace, name).get("Adopted"), what="the Adopted Event")
    assert f"ConfigMap {namespace}/{name}-config (also managed by kubectl-create)" in adopted
    config = _get(cluster, "configmap", f"{name}-config", "-n", namespace)
    assert "dronedelivery.fabrikam.io/desired-hash" in config["metadata"]["annotations"]
    # Not fought: the operator's fields are its own now, the one it does not render is left as it was.
    assert config["data"]["LEFT_BY_HAND"] == "1"
    assert [r["kind"] for r in config["metadata"]["ownerReferences"]] == ["DroneService"]
    # Only what existed before is reported, and only once.
    assert "Deployment" not in adopted
    cluster.kubectl("delete", "droneservice", name, "-n", namespace)


def test_skip_observes_only_until_the_annotation_goes(cluster: Any, platform: dict[str, Any], eventually: Any) -> None:
    svc = _service(platform, f"skip-{uuid.uuid4().hex[:4]}")
    namespace, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(svc))
    eventually(lambda: _get(cluster, "deployment", name, "-n", namespace), what="the service's Deployment")
    cluster.kubectl("annotate", "droneservice", name, "-n", namespace, f"{POLICY}=skip")
    time.sleep(2)

    # A hand edit of a child and a change of the spec: neither is acted on (resync is 10 s in these tests).
    edit = [{"op": "replace", "path": "/spec/template/spec/containers/0/args", "value": ["--by-hand"]}]
    cluster.kubectl("patch", "deployment", name, "-n", namespace, "--type=json", "-p", json.dumps(edit))
    cluster.kubectl("patch", "droneservice", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"args":["--x"]}}')
    time.sleep(15)
    args = _get(cluster, "deployment", name, "-n", namespace)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["--by-hand"]

    # Managed again: the spec's args, at once.
    cluster.kubectl("annotate", "droneservice", name, "-n", namespace, f"{POLICY}-")
    eventually(
        lambda: (
            _get(cluster, "deployment", name, "-n", namespace)["spec"]["template"]["spec"]["containers"][0]["args"]
            == ["--x"]
        ),
        what="the spec applied once the annotation is gone",
        timeout=30,
    )
    cluster.kubectl("delete", "droneservice", name, "-n", namespace)


def test_detach_on_delete_leaves_a_services_children_in_place(
    cluster: Any, platform: dict[str, Any], eventually: Any
) -> None:
    svc = _service(platform, f"detach-{uuid.uuid4().hex[:4]}")
    svc["metadata"]["annotations"] = {POLICY: "detach-on-delete"}
    namespace, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(svc))
    eventually(lambda: _get(cluster, "deployment", name, "-n", namespace), what="the service's Deployment")
    eventually(
        lambda: FINALIZER in _get(cluster, "droneservice", name, "-n", namespace)["metadata"].get("finalizers", []),
        what="the finalizer that lets the operator detach before the service goes",
    )

    cluster.kubectl("delete", "droneservice", name, "-n", namespace, "--timeout=60s")

    for kind, child in (("deployment", name), ("service", name), ("configmap", f"{name}-config"), ("hpa", name)):
        found = _get(cluster, kind, child, "-n", namespace)
        assert found is not None, f"{kind} {child} was deleted"
        assert not found["metadata"].get("ownerReferences"), found["metadata"]
    time.sleep(3)  # the garbage collector had its chance
    assert _get(cluster, "deployment", name, "-n", namespace) is not None
    for kind, child in (("deployment", name), ("service", name), ("configmap", f"{name}-config"), ("hpa", name)):
        cluster.kubectl("delete", kind, child, "-n", namespace, check=False)


def test_detach_on_delete_leaves_a_platforms_namespaces_and_services(
    cluster: Any, operator: Any, kit: Any, eventually: Any
) -> None:
    platform = kit.sample_platform()
    platform["metadata"]["annotations"] = {POLICY: "detach-on-delete"}
    name = platform["metadata"]["name"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=180)
    namespaces = [team["namespace"] for team in platform["spec"]["teams"]]

    cluster.kubectl("delete", "deliveryplatform", name, "--timeout=90s")

    for namespace in namespaces:
        found = _get(cluster, "namespace", namespace)
        assert found is not None
        assert found["status"]["phase"] == "Active"
        assert not found["metadata"].get("ownerReferences")
    services = [s for ns in namespaces for s in _get(cluster, "droneservices", "-n", ns)["items"]]
    assert len(services) == 8
    assert all(not s["metadata"].get("ownerReferences") for s in services)
    time.sleep(3)
    assert all(_get(cluster, "namespace", ns)["status"]["phase"] == "Active" for ns in namespaces)
    for namespace in namespaces:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

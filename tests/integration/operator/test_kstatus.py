"""What kstatus, the health library Flux computes with, says of live platforms and services: the library itself
(sigs.k8s.io/cli-utils, through the checker in toolchain/kstatus) reading the objects as the API server serves them.

Ready is Current, a rollout under way InProgress, and what will not progress without a change (a bad reference, an
image from a registry the platform refuses) Failed, for the service and for the platform waiting on it."""

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import toolchain, versions

pytestmark = pytest.mark.cluster

TYPES = {"Ready", "Progressing", "Degraded", "Reconciling", "Stalled"}
DIGEST = "sha256:" + "c" * 64


@pytest.fixture(scope="module")
def kstatus() -> Path:
    """The pinned checker, built into the per-machine cache on first use."""
    return toolchain.go_binary(versions.KSTATUS_BINARY, progress=lambda _: None)


@dataclass(frozen=True)
class Seen:
    """kstatus's verdict on one object as read from the API server, with the conditions it was computed from."""

    status: str
    message: str
    conditions: dict[str, dict[str, Any]]
    has_status: bool


def _read(cluster: Any, checker: Path, *resource: str) -> dict[str, Seen]:
    """kstatus of the objects `kubectl get` lists, by "namespace/name" ("name" when cluster-scoped)."""
    listed = json.loads(cluster.kubectl("get", *resource, "-o", "json").stdout)
    items = listed.get("items", [listed])
    printed = subprocess.run(
        [str(checker)], input=json.dumps(listed), capture_output=True, text=True, check=True, timeout=30
    ).stdout
    verdicts = [json.loads(line) for line in printed.splitlines()]
    assert len(verdicts) == len(items)
    seen = {}
    for item, verdict in zip(items, verdicts, strict=True):
        meta = item["metadata"]
        assert (verdict["kind"], verdict["name"]) == (item["kind"], meta["name"])
        status = item.get("status") or {}
        key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        seen[key] = Seen(
            verdict["status"],
            verdict["message"],
            {c["type"]: c for c in status.get("conditions") or []},
            "observedGeneration" in status,
        )
    return seen


def _until(read: Any, predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = read()
        if predicate(last):
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


@dataclass(frozen=True)
class Platform:
    name: str
    namespaces: dict[str, str]  # team -> namespace
    history: list[Seen]  # the platform as kstatus saw it from its first status until Current


@pytest.fixture(scope="module")
def platform(cluster: Any, operator: Any, kit: Any, kstatus: Path) -> Iterator[Platform]:
    """The sample platform, watched through kstatus from creation until it is Current."""
    document = kit.sample_platform()
    name = document["metadata"]["name"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document))
    history: list[Seen] = []

    def watched() -> Seen:
        seen = _read(cluster, kstatus, "deliveryplatform", name)[name]
        if seen.has_status:
            history.append(seen)
        return seen

    _until(watched, lambda seen: seen.has_status and seen.status == "Current", timeout=180, what="Current")
    yield Platform(name, {t["name"]: t["namespace"] for t in document["spec"]["teams"]}, history)
    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)


def _services(cluster: Any, checker: Path, platform: Platform) -> dict[str, Seen]:
    seen: dict[str, Seen] = {}
    for namespace in platform.namespaces.values():
        seen |= _read(cluster, checker, "droneservices", "-n", namespace)
    return seen


def test_a_new_platform_is_in_progress_until_it_is_ready_then_current(
    cluster: Any, kstatus: Path, platform: Platform
) -> None:
    statuses = [seen.status for seen in platform.history]
    assert statuses[0] == "InProgress", statuses  # its services were rolling out when it was first reported
    assert statuses[-1] == "Current"
    assert set(statuses) == {"InProgress", "Current"}
    # Every status the operator wrote carried all five conditions, the first one included.
    assert all(set(seen.conditions) == TYPES for seen in platform.history)
    final = platform.history[-1]
    assert final.message == "Resource is Ready"
    # (Degraded may warn beside Ready, as the sample's does: it says nothing of progress.)
    assert {t: final.conditions[t]["status"] for t in ("Ready", "Progressing", "Reconciling", "Stalled")} == {
        "Ready": "True",
        "Progressing": "False",
        "Reconciling": "False",
        "Stalled": "False",
    }
    services = _services(cluster, kstatus, platform)
    assert len(services) == 8
    assert {key: seen.status for key, seen in services.items()} == dict.fromkeys(services, "Current")


def test_a_rollout_under_way_is_in_progress_and_current_once_done(
    cluster: Any, kstatus: Path, platform: Platform
) -> None:
    """A new pod template held back (the Deployment paused, as a rollout waiting for nodes would be): the service and
    its platform stay InProgress with the operator's words until the rollout goes on, then are Current again."""
    namespace = platform.namespaces["shipping"]
    cluster.kubectl("rollout", "pause", "deployment/delivery", "-n", namespace)
    try:
        cluster.kubectl(
            "patch", "deliveryplatform", platform.name, "--type=merge",
            "-p", '{"spec": {"services": {"delivery": {"config": [{"name": "ETA_SPEED_MPS", "value": "21"}]}}}}',
        )  # fmt: skip
        service = _until(
            lambda: _read(cluster, kstatus, "droneservice", "delivery", "-n", namespace)[f"{namespace}/delivery"],
            lambda seen: seen.status == "InProgress" and seen.conditions["Reconciling"]["status"] == "True",
            timeout=60,
            what="the service to be InProgress",
        )
        assert service.conditions["Reconciling"]["reason"] == "RollingOut"
        assert service.message == service.conditions["Ready"]["message"]  # "2/2 pods ready, 0 updated"
        assert service.conditions["Stalled"]["status"] == "False"
        rolling = _until(
            lambda: _read(cluster, kstatus, "deliveryplatform", platform.name)[platform.name],
            lambda seen: seen.status == "InProgress" and seen.conditions["Reconciling"]["status"] == "True",
            timeout=30,
            what="the platform to be InProgress",
        )
        assert rolling.conditions["Reconciling"]["reason"] == "ServicesNotReady"
        assert rolling.message == "7/8 services ready"
        time.sleep(5)  # held: still in progress, never Failed
        assert _read(cluster, kstatus, "droneservice", "delivery", "-n", namespace)[f"{namespace}/delivery"].status == (
            "InProgress"
        )
    finally:
        cluster.kubectl("rollout", "resume", "deployment/delivery", "-n", namespace)
    _until(
        lambda: _read(cluster, kstatus, "droneservice", "delivery", "-n", namespace)[f"{namespace}/delivery"],
        lambda seen: seen.status == "Current",
        timeout=90,
        what="the service to be Current after the rollout",
    )
    _until(
        lambda: _read(cluster, kstatus, "deliveryplatform", platform.name)[platform.name],
        lambda seen: seen.status == "Current",
        timeout=60,
        what="the platform to be Current again",
    )


def _team_service(name: str, namespace: str, platform: str, repository: str) -> dict[str, Any]:
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"platformRef": {"name": platform}, "image": {"repository": repository, "digest": DIGEST}},
    }


def test_an_image_the_platform_refuses_fails_the_service_and_its_platform_until_it_changes(
    cluster: Any, kstatus: Path, platform: Platform
) -> None:
    namespace = platform.namespaces["shipping"]
    key = f"{namespace}/reports"
    refused = _team_service("reports", namespace, platform.name, "registry.example.com/shipping/reports")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(refused))
    try:
        service = _until(
            lambda: _read(cluster, kstatus, "droneservice", "reports", "-n", namespace)[key],
            lambda seen: seen.status == "Failed",
            timeout=30,
            what="the service to be Failed",
        )
        stalled = service.conditions["Stalled"]
        assert (stalled["status"], stalled["reason"]) == ("True", "ImageNotAllowed")
        assert service.message == stalled["message"]
        assert "registry.example.com/shipping/reports" in service.message
        assert service.conditions["Reconciling"]["status"] == "False"
        failed = _until(
            lambda: _read(cluster, kstatus, "deliveryplatform", platform.name)[platform.name],
            lambda seen: seen.status == "Failed",
            timeout=30,
            what="the platform to be Failed",
        )
        assert failed.conditions["Stalled"]["reason"] == "ServiceStalled"
        assert failed.message == f"{key}: ImageNotAllowed"

        # The change that clears it: an image from the registry the platform allows.
        allowed = _team_service("reports", namespace, platform.name, "fabrikam.azurecr.io/shipping/reports")
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(allowed))
        _until(
            lambda: _read(cluster, kstatus, "droneservice", "reports", "-n", namespace)[key],
            lambda seen: seen.status == "Current",
            timeout=90,
            what="the changed service to be Current",
        )
        current = _until(
            lambda: _read(cluster, kstatus, "deliveryplatform", platform.name)[platform.name],
            lambda seen: seen.status == "Current",
            timeout=60,
            what="the platform to be Current again",
        )
        assert current.conditions["Ready"]["message"] == "9/9 services ready"
    finally:
        cluster.kubectl("delete", "droneservice", "reports", "-n", namespace, "--wait=false", check=False)


def test_a_service_referencing_a_platform_that_does_not_exist_is_failed(
    cluster: Any, kstatus: Path, operator: Any, namespace: str
) -> None:
    orphan = _team_service("orphan", namespace, "no-such-platform", "fabrikam.azurecr.io/x")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(orphan))
    seen = _until(
        lambda: _read(cluster, kstatus, "droneservice", "orphan", "-n", namespace)[f"{namespace}/orphan"],
        lambda seen: seen.has_status,
        timeout=30,
        what="the operator's first status",
    )
    # Stalled on its first status, with every other condition beside it.
    assert seen.status == "Failed"
    assert set(seen.conditions) == TYPES
    assert seen.conditions["Stalled"]["reason"] == "PlatformNotFound"
    assert "no-such-platform" in seen.message
    assert seen.conditions["Ready"]["status"] == "False"
    assert seen.conditions["Reconciling"]["status"] == "False"

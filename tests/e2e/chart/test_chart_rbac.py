"""Proof of the chart's least-privilege RBAC: the operator, holding only the chart ServiceAccount's token, brings
the full sample platform and a team's own DroneService to Ready, and is never refused anything."""

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "config" / "samples"
READY_TIMEOUT = 150
REFUSALS = re.compile(r"\b403\b|[Ff]orbidden|Not enough permissions")


def _platform(suffix: str) -> dict[str, Any]:
    """The full sample platform (minus Azure: no Azure here) under a unique name and unique team namespaces."""
    platform: dict[str, Any] = yaml.safe_load((SAMPLES / "platform.yaml").read_text())
    platform["metadata"]["name"] = f"fabrikam-{suffix}"
    platform["spec"].pop("azure", None)
    for team in platform["spec"]["teams"]:
        team["namespace"] = f"{team['namespace']}-{suffix}"
    return platform


def _team_service(platform: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The sample team DroneService moved into the shipping team's namespace, and that team's group."""
    shipping = next(team for team in platform["spec"]["teams"] if team["name"] == "shipping")
    service: dict[str, Any] = yaml.safe_load((SAMPLES / "team-service.yaml").read_text())
    service["metadata"]["namespace"] = shipping["namespace"]
    service["spec"]["platformRef"]["name"] = platform["metadata"]["name"]
    for call in service["spec"].get("calls", []):
        call["namespace"] = shipping["namespace"]
    return service, shipping["groups"][0]


def _wait_ready(admin: Any, operator: Any, resource: str, namespace: str | None = None) -> None:
    args = ["wait", "--for=condition=Ready", resource, f"--timeout={READY_TIMEOUT}s"]
    result = admin.kubectl(*args, *(["-n", namespace] if namespace else []), check=False)
    if result.returncode != 0:
        shown = admin.kubectl("get", resource, *(["-n", namespace] if namespace else []), "-o", "yaml", check=False)
        pytest.fail(
            f"{resource} not Ready: {result.stderr}\n{shown.stdout[-3000:]}\noperator log:\n{operator.text()[-4000:]}"
        )


def _wait_for_event(admin: Any, operator: Any, namespace: str, name: str, reason: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = json.loads(
            admin.kubectl(
                "get", "events", "-n", namespace, f"--field-selector=involvedObject.name={name}", "-o", "json"
            ).stdout
        )["items"]
        if any(e["reason"] == reason and e.get("source", {}).get("component") == "kopf" for e in events):
            return
        time.sleep(0.5)
    pytest.fail(f"no {reason} Event for {namespace}/{name} within 60s:\n{operator.text()[-4000:]}")


@pytest.fixture(scope="module")
def platform(admin: Any, operator_as_service_account: Any) -> Iterator[dict[str, Any]]:
    platform = _platform(uuid.uuid4().hex[:6])
    admin.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    try:
        yield platform
    finally:
        admin.kubectl(
            "delete", "deliveryplatform", platform["metadata"]["name"], "--wait=true", "--timeout=60s", check=False
        )


def test_the_chart_installs_a_hardened_operator_deployment(admin: Any, release: Any) -> None:
    deployment = json.loads(
        admin.kubectl("get", "deployment", release.name, "-n", release.namespace, "-o", "json").stdout
    )
    # Two replicas, one active (leader election through a Lease): a rolling update never runs two reconcilers.
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    # helm --wait returned, so the pods were admitted by the namespace's restricted Pod Security level and are Ready.
    assert deployment["status"].get("readyReplicas") == 2
    pods = json.loads(
        admin.kubectl(
            "get", "pods", "-n", release.namespace, "-l", f"app.kubernetes.io/instance={release.name}", "-o", "json"
        ).stdout
    )["items"]
    assert [p["spec"]["serviceAccountName"] for p in pods] == [release.service_account] * 2


def test_the_service_account_holds_no_wildcard_and_no_secret(admin: Any, release: Any) -> None:
    subject = f"system:serviceaccount:{release.namespace}:{release.service_account}"
    for verb, resource in (
        ("get", "secrets"),
        ("list", "secrets"),
        ("create", "clusterroles"),
        ("escalate", "roles"),
        ("bind", "roles"),
        ("create", "pods"),
        ("delete", "deployments"),
        ("impersonate", "users"),
    ):
        allowed = admin.kubectl("auth", "can-i", verb, resource, "--all-namespaces", f"--as={subject}", check=False)
        assert allowed.stdout.strip() == "no", f"the operator can {verb} {resource}"
    for verb, resource in (
        ("patch", "deployments.apps"),
        ("watch", "droneservices.dronedelivery.fabrikam.io"),
        ("create", "events"),
    ):
        allowed = admin.kubectl("auth", "can-i", verb, resource, "--all-namespaces", f"--as={subject}", check=False)
        assert allowed.stdout.strip() == "yes", f"the operator cannot {verb} {resource}"


def test_the_operator_serves_its_probe_endpoint_and_metrics(operator_as_service_account: Any) -> None:
    assert httpx.get(operator_as_service_account.health_url, timeout=5).status_code == 200
    metrics = httpx.get(operator_as_service_account.metrics_url, timeout=5).text
    assert "fabrikam_operator_reconciles_total" in metrics


def test_the_full_sample_platform_and_a_team_service_become_ready_with_the_chart_identity_only(
    admin: Any, release: Any, operator_as_service_account: Any, platform: dict[str, Any]
) -> None:
    operator = operator_as_service_account
    name = platform["metadata"]["name"]
    _wait_ready(admin, operator, f"deliveryplatform/{name}")
    status = json.loads(admin.kubectl("get", "deliveryplatform", name, "-o", "json").stdout)["status"]
    assert status["servicesReady"] == "8/8"
    assert status["observedGeneration"] == 1

    # The shipping team applies its own service with its own rights: the Role the operator granted it.
    service, group = _team_service(platform)
    admin.kubectl(
        "apply", "-f", "-", "--as=shipping-dev@fabrikam.example", f"--as-group={group}", input=yaml.safe_dump(service)
    )
    namespace = service["metadata"]["namespace"]
    _wait_ready(admin, operator, f"droneservice/{service['metadata']['name']}", namespace)
    _wait_ready(admin, operator, f"deliveryplatform/{name}")

    # A team service naming no existing platform: Degraded, with a Warning Event posted by the operator.
    orphan = {**service, "metadata": {"name": "orphan", "namespace": namespace}}
    orphan["spec"] = {**service["spec"], "platformRef": {"name": f"{name}-missing"}}
    admin.kubectl(
        "apply", "-f", "-", "--as=shipping-dev@fabrikam.example", f"--as-group={group}", input=yaml.safe_dump(orphan)
    )
    _wait_for_event(admin, operator, namespace, "orphan", "PlatformNotFound")

    time.sleep(2)  # let the watch streams of the last writes settle into the log
    refusals = [line for line in operator.text().splitlines() if REFUSALS.search(line)]
    assert refusals == [], "the chart's ClusterRole refused the operator:\n" + "\n".join(refusals[:20])
    assert operator.process.poll() is None, operator.text()[-4000:]

"""A change in who calls whom reaches the other side at once, not at the next resync: a new caller is let into its
callee, a caller waiting for a missing service stops being Degraded when it appears, a removed caller is shut out.

The operator here re-checks idle objects only once an hour, so only the change itself can have done it."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from fabrikam.operator.api.platform import BundledServices

pytestmark = pytest.mark.cluster

DIGEST = "sha256:" + "d" * 64
PROPAGATION_SECONDS = 20  # far below the hour-long resync of this module's operator


@pytest.fixture(scope="module")
def graph_platform(cluster: Any, operator_factory: Any) -> Iterator[tuple[str, str]]:
    """A one-team platform without the bundled services, and an operator whose idle re-check is an hour away."""
    operator_factory({"FABRIKAM_OPERATOR_RESYNC_SECONDS": "3600"})
    name = f"graph-{uuid.uuid4().hex[:6]}"
    namespace = f"{name}-team"
    platform = {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "metadata": {"name": name},
        "spec": {
            "image": {"repository": "example.azurecr.io/graph", "digest": DIGEST},
            "teams": [{"name": "team", "namespace": namespace, "costCenter": "cc-graph"}],
            "services": BundledServices.all_disabled(),
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    cluster.kubectl("wait", "--for=create", f"namespace/{namespace}", "--timeout=60s")
    yield name, namespace
    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)


def _service(name: str, namespace: str, platform: str, calls: list[str] = []) -> dict[str, Any]:  # noqa: B006
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "platformRef": {"name": platform},
            "image": {"repository": "example.azurecr.io/graph", "digest": DIGEST},
            "identity": {"azure": False},
            "calls": [{"name": callee} for callee in calls],
        },
    }


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _allowed_callers(cluster: Any, namespace: str, name: str) -> set[str]:
    """Names of the DroneServices the service's NetworkPolicy admits on its HTTP port."""
    policy = _get(cluster, "networkpolicy", name, "-n", namespace)
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in policy["spec"].get("ingress") or []
        for peer in rule["from"]
        if "podSelector" in peer
    }


def _degraded_reason(cluster: Any, namespace: str, name: str) -> str | None:
    conditions = _get(cluster, "droneservice", name, "-n", namespace).get("status", {}).get("conditions", [])
    return next((c["reason"] for c in conditions if c["type"] == "Degraded" and c["status"] == "True"), None)


def _apply(cluster: Any, document: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document))


def test_a_new_caller_is_let_in_and_a_removed_one_shut_out_at_once(
    cluster: Any, graph_platform: tuple[str, str], kit: Any, eventually: Any
) -> None:
    platform, namespace = graph_platform
    _apply(cluster, _service("callee", namespace, platform))
    kit.wait_ready(cluster, "droneservice/callee", namespace=namespace, timeout=120)
    assert _allowed_callers(cluster, namespace, "callee") == set()

    _apply(cluster, _service("caller", namespace, platform, calls=["callee"]))
    eventually(
        lambda: _allowed_callers(cluster, namespace, "callee") == {"caller"},
        timeout=PROPAGATION_SECONDS,
        what="the callee's NetworkPolicy to admit the new caller",
    )

    _apply(cluster, _service("caller", namespace, platform, calls=[]))
    eventually(
        lambda: _allowed_callers(cluster, namespace, "callee") == set(),
        timeout=PROPAGATION_SECONDS,
        what="the callee's NetworkPolicy to drop a caller that no longer calls it",
    )

    _apply(cluster, _service("caller", namespace, platform, calls=["callee"]))
    eventually(lambda: _allowed_callers(cluster, namespace, "callee") == {"caller"}, timeout=PROPAGATION_SECONDS)
    cluster.kubectl("delete", "droneservice", "caller", "-n", namespace)
    eventually(
        lambda: _allowed_callers(cluster, namespace, "callee") == set(),
        timeout=PROPAGATION_SECONDS,
        what="the callee's NetworkPolicy to drop a deleted caller",
    )


def test_a_missing_dependency_heals_when_the_service_appears_and_returns_when_it_goes(
    cluster: Any, graph_platform: tuple[str, str], eventually: Any
) -> None:
    platform, namespace = graph_platform
    _apply(cluster, _service("waiting", namespace, platform, calls=["late"]))
    eventually(
        lambda: _degraded_reason(cluster, namespace, "waiting") == "UnknownDependency",
        timeout=60,
        what="Degraded UnknownDependency",
    )

    _apply(cluster, _service("late", namespace, platform))
    eventually(
        lambda: _degraded_reason(cluster, namespace, "waiting") is None,
        timeout=PROPAGATION_SECONDS,
        what="the dependency to be found once the service exists",
    )
    assert _allowed_callers(cluster, namespace, "late") == {"waiting"}

    cluster.kubectl("delete", "droneservice", "late", "-n", namespace)
    eventually(
        lambda: _degraded_reason(cluster, namespace, "waiting") == "UnknownDependency",
        timeout=PROPAGATION_SECONDS,
        what="Degraded again once the dependency is deleted",
    )

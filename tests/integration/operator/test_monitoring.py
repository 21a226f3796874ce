"""The operator creates the monitoring of what it runs, on a real API server: without the Prometheus Operator's CRDs
the dashboards only, and a status that says there are no alerts (not Degraded); once the CRDs are installed (the
pinned prometheus-operator module's own CRD files, from the Go module proxy), each service's PrometheusRule and
PodMonitor, which are reverted when edited or deleted like every other child, and an on-call routing the real
AlertmanagerConfig schema accepts. Removing the CRDs while the operator runs, again and again, never stops it."""

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import prometheus_stack
from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.api.platform import BundledServices
from fabrikam.operator.render.oncall import alertmanager_config

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
CRDS = ("prometheusrules", "podmonitors", "alertmanagerconfigs")
DIGEST = "sha256:" + "e" * 64
DISCOVERY_SECONDS = 2
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE"}
WATCHED_RESOURCES = {"prometheusrules", "podmonitors", "configmaps", "droneservices", "deliveryplatforms"}


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _crd_files() -> list[Path]:
    """The three CRDs the operator renders for, as the pinned release ships them (`devcluster/prometheus_stack.py`)."""
    by_name = {crd.name: crd for crd in prometheus_stack.release(progress=lambda _: None).crds}
    return [by_name[f"monitoring.coreos.com_{plural}.yaml"] for plural in CRDS]


def _established(cluster: Any) -> bool:
    """Whether every CRD is served (`kubectl wait` fails, instead of waiting, on one without a status yet)."""
    found = _get(cluster, "crd", *(f"{plural}.monitoring.coreos.com" for plural in CRDS))["items"]
    conditions = [{c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []} for crd in found]
    return len(conditions) == len(CRDS) and all(c.get("Established") == "True" for c in conditions)


def _install_crds(cluster: Any, eventually: Any) -> None:
    for crd in _crd_files():
        cluster.kubectl("apply", "--server-side", "-f", str(crd))
    eventually(lambda: _established(cluster), timeout=60, what="the CRDs established")


def _remove_crds(cluster: Any, *, together: bool = True) -> None:
    names = [f"{plural}.monitoring.coreos.com" for plural in CRDS]
    for batch in [names] if together else [[name] for name in names]:
        cluster.kubectl("delete", "crd", *batch, "--ignore-not-found", "--wait=true", "--timeout=60s")


OPERATOR_ENV = {"FABRIKAM_OPERATOR_DISCOVERY_SECONDS": str(DISCOVERY_SECONDS)}


@pytest.fixture(scope="module")
def monitoring_operator(cluster: Any, operator_factory: Any) -> Any:
    """An operator that reads discovery every 2 seconds, started while the cluster has no Prometheus Operator CRDs."""
    _remove_crds(cluster)
    return operator_factory(OPERATOR_ENV)


@pytest.fixture(scope="module")
def watched(cluster: Any, monitoring_operator: Any) -> Iterator[tuple[str, str]]:
    """A one-team platform with a team's own service; the cluster ends without the Prometheus Operator's CRDs."""
    name = f"watch-{uuid.uuid4().hex[:6]}"
    namespace = f"{name}-team"
    platform = {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "metadata": {"name": name},
        "spec": {
            "image": {"repository": "example.azurecr.io/watch", "digest": DIGEST},
            "teams": [{"name": "team", "namespace": namespace, "costCenter": "cc-watch"}],
            "services": BundledServices.all_disabled(),
            "observability": {"prometheusLabels": {"release": "kube-prometheus-stack"}},
        },
    }
    service = {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": "tracker", "namespace": namespace},
        "spec": {
            "platformRef": {"name": name},
            "image": {"repository": "example.azurecr.io/watch", "digest": DIGEST},
            "identity": {"azure": False},
            "slo": {"availability": {"target": 99.5}},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    cluster.kubectl("wait", "--for=create", f"namespace/{namespace}", "--timeout=60s")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(service))
    yield name, namespace
    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)
    _remove_crds(cluster)


def _monitoring(cluster: Any, *args: str) -> str | None:
    status: dict[str, Any] = _get(cluster, *args).get("status") or {}
    return status.get("monitoring")


def _said(cluster: Any, namespace: str, start: str) -> str | None:
    """The service's status.monitoring once it starts with `start`."""
    said = _monitoring(cluster, "droneservice", "tracker", "-n", namespace)
    return said if said is not None and said.startswith(start) else None


def test_without_the_crds_the_status_says_there_are_no_alerts_and_nothing_is_degraded(
    cluster: Any, watched: tuple[str, str], eventually: Any
) -> None:
    platform, namespace = watched
    said = eventually(
        lambda: _monitoring(cluster, "droneservice", "tracker", "-n", namespace),
        timeout=60,
        what="status.monitoring of the service",
    )
    assert said == (
        "PrometheusRule CRD not installed: no alerts; PodMonitor CRD not installed: scraped only where the "
        "prometheus.io annotations are; dashboard ConfigMap tracker-dashboard"
    )
    conditions = _get(cluster, "droneservice", "tracker", "-n", namespace)["status"]["conditions"]
    assert {c["type"]: c["status"] for c in conditions}["Degraded"] == "False"
    platform_said = eventually(
        lambda: _monitoring(cluster, "deliveryplatform", platform), timeout=30, what="the platform's status.monitoring"
    )
    assert platform_said == (
        f"dashboard ConfigMap {namespace}/{platform}-platform-dashboard; no on-call routing "
        "(spec.observability.onCall is not set)"
    )
    dashboards = _get(cluster, "configmaps", "-n", namespace, "-l", "grafana_dashboard=1")["items"]
    assert {c["metadata"]["name"] for c in dashboards} == {f"{platform}-platform-dashboard", "tracker-dashboard"}
    board = json.loads(next(iter(dashboards[0]["data"].values())))
    assert board["panels"]


def test_once_the_crds_are_installed_the_rule_and_the_pod_monitor_appear(
    cluster: Any, watched: tuple[str, str], eventually: Any
) -> None:
    _, namespace = watched
    _install_crds(cluster, eventually)
    said = eventually(
        lambda: _said(cluster, namespace, "PrometheusRule tracker-slo"),
        timeout=60,
        what="the operator to notice the CRDs (discovery, then the next re-check)",
    )
    assert (
        said == "PrometheusRule tracker-slo: 4 burn-rate alerts and FabrikamServiceNotReady; "
        "PodMonitor tracker; dashboard ConfigMap tracker-dashboard"
    )
    rule = _get(cluster, "prometheusrule", "tracker-slo", "-n", namespace)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["ownerReferences"][0]["kind"] == "DroneService"
    [group] = rule["spec"]["groups"]
    alerts = [r["alert"] for r in group["rules"] if "alert" in r]
    assert alerts == [
        "FabrikamAvailabilityFastBurn",
        "FabrikamAvailabilitySlowBurn",
        "FabrikamLatencyFastBurn",
        "FabrikamLatencySlowBurn",
        "FabrikamServiceNotReady",
    ]
    assert sum(1 for r in group["rules"] if "record" in r) == 14
    assert "> (14.4 * 0.005)" in group["rules"][14]["expr"]  # spec.slo.availability.target: 99.5
    monitor = _get(cluster, "podmonitor", "tracker", "-n", namespace)
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics"}]


@pytest.mark.parametrize(
    "provider",
    [
        {"pagerDuty": {"routingKeySecret": "pagerduty-routing-key"}},
        {"opsgenie": {"apiKeySecret": "opsgenie-api-key", "apiUrl": "https://api.eu.opsgenie.com/"}},
    ],
)
def test_the_on_call_routing_is_what_the_alertmanager_config_crd_accepts(
    cluster: Any, watched: tuple[str, str], provider: dict[str, Any]
) -> None:
    """The AlertmanagerConfig needs a platform with a Key Vault (Azure), so it is checked here by the API server
    against the real CRD's schema (a server-side dry run), not applied by this module's platform."""
    _, namespace = watched
    document = yaml.safe_load((ROOT / "config" / "samples" / "platform.yaml").read_text())
    document["spec"]["observability"]["onCall"] = {**provider, "identityClientId": str(uuid.uuid4())}
    platform = DeliveryPlatform.model_validate(document)
    config = alertmanager_config(platform, platform.spec.teams[0])
    config["metadata"]["namespace"] = namespace
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(config), check=False)
    assert result.returncode == 0, result.stderr


def _writes(cluster: Any) -> dict[str, int]:
    """Writes the API server counted to the monitoring objects and the statuses, by verb and resource."""
    counted: dict[str, int] = {}
    for line in cluster.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        resource = f"{labels.get('resource')}/{labels.get('subresource', '')}"
        if labels.get("verb") in WRITE_VERBS and labels.get("resource") in WATCHED_RESOURCES:
            key = f"{labels['verb']} {resource}"
            counted[key] = counted.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counted


def test_idle_re_checks_write_nothing(cluster: Any, watched: tuple[str, str], eventually: Any) -> None:
    """Two re-checks of every object (10 s apart) send nothing: the rule, the monitor and the dashboards are hashed
    like every other child, and status.monitoring does not change."""
    _, namespace = watched
    eventually(
        lambda: cluster.kubectl("get", "podmonitor", "tracker", "-n", namespace, check=False).returncode == 0,
        timeout=60,
        what="the PodMonitor",
    )
    time.sleep(12)  # what the last change started has settled
    before = _writes(cluster)
    time.sleep(22)
    after = _writes(cluster)
    assert {key: n - before.get(key, 0) for key, n in after.items() if n != before.get(key, 0)} == {}


def test_a_rule_edited_or_deleted_by_hand_comes_back(cluster: Any, watched: tuple[str, str], eventually: Any) -> None:
    _, namespace = watched
    eventually(
        lambda: cluster.kubectl("get", "prometheusrule", "tracker-slo", "-n", namespace, check=False).returncode == 0,
        timeout=60,
        what="the PrometheusRule",
    )
    original = _get(cluster, "prometheusrule", "tracker-slo", "-n", namespace)["spec"]
    silenced = [{"op": "replace", "path": "/spec/groups/0/rules/14/expr", "value": "vector(0) > 1"}]
    cluster.kubectl(
        "patch", "prometheusrule", "tracker-slo", "-n", namespace, "--type=json", "-p", json.dumps(silenced)
    )
    eventually(
        lambda: _get(cluster, "prometheusrule", "tracker-slo", "-n", namespace)["spec"] == original,
        timeout=30,
        what="the operator to revert the edited alert",
    )
    cluster.kubectl("delete", "prometheusrule", "tracker-slo", "-n", namespace)
    eventually(
        lambda: cluster.kubectl("get", "prometheusrule", "tracker-slo", "-n", namespace, check=False).returncode == 0,
        timeout=30,
        what="the deleted PrometheusRule to come back",
    )
    cluster.kubectl("delete", "configmap", "tracker-dashboard", "-n", namespace)
    eventually(
        lambda: cluster.kubectl("get", "configmap", "tracker-dashboard", "-n", namespace, check=False).returncode == 0,
        timeout=30,
        what="the deleted dashboard to come back",
    )
    events = _get(cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=tracker")["items"]
    reverted = [e["message"] for e in events if e["reason"] == "DriftReverted"]
    assert any("PrometheusRule" in message for message in reverted), reverted


# Each removal starts a different while after the children came back, the CRDs removed together or one by one: kopf's
# own CRD watch and the API server's tear-down of a removed kind's storage race differently each time.
REMOVALS = ((0.0, True), (0.3, False), (1.0, True), (2.0, False), (4.0, True))


def test_removing_the_crds_again_and_again_never_stops_the_operator(
    cluster: Any, watched: tuple[str, str], monitoring_operator: Any, eventually: Any
) -> None:
    """A watch that reconnects to a kind whose CRD was just removed gets a 404, which kopf takes as fatal when its CRD
    watch has not yet shown the removal (handlers/discovery.py). The operator outlives five removals, says each time
    that the CRDs are missing, and brings the children back each time they return."""
    _, namespace = watched
    process = monitoring_operator.process

    def alive() -> str:
        return f"the operator exited ({process.poll()}); log: {monitoring_operator.log.read_text()[-3000:]}"

    for pause, together in REMOVALS:
        _install_crds(cluster, eventually)
        eventually(
            lambda: _said(cluster, namespace, "PrometheusRule tracker-slo"),
            timeout=60,
            what="the rule and monitor back",
        )
        assert _get(cluster, "podmonitor", "tracker", "-n", namespace)["metadata"]["name"] == "tracker"
        time.sleep(pause)
        _remove_crds(cluster, together=together)
        said = eventually(
            lambda: process.poll() is not None or _said(cluster, namespace, "PrometheusRule CRD"),
            timeout=60,
            what="the operator to notice the CRDs are gone",
        )
        assert process.poll() is None, alive()
        assert said.startswith("PrometheusRule CRD not installed: no alerts; PodMonitor CRD not installed")
    assert monitoring_operator.metric("fabrikam_operator_leader") == 1  # serving, and reconciling
    _install_crds(cluster, eventually)
    eventually(lambda: _said(cluster, namespace, "PrometheusRule tracker-slo"), timeout=60, what="the children back")
    cluster.kubectl("delete", "podmonitor", "tracker", "-n", namespace)
    eventually(
        lambda: "reverted a change to PodMonitor" in monitoring_operator.log.read_text(),
        timeout=30,
        what="the PodMonitor's watch to revert its deletion (kopf watches the kind again)",
    )
    assert process.poll() is None, alive()
    log = monitoring_operator.log.read_text()
    assert "has failed" not in log, log[-3000:]
    print(f"{len(REMOVALS)} removals; 404s the watches outlived: {log.count('no longer served')}")
    conditions = _get(cluster, "droneservice", "tracker", "-n", namespace)["status"]["conditions"]
    assert {c["type"]: c["status"] for c in conditions}["Degraded"] == "False"

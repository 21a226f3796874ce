"""`fabrikam audit` on a live cluster: the seed's cluster (tests/fixtures/seed-cluster) applied to `default`, then
audited through the kubeconfig, finds what the manifests show (save the removed API versions, which no current API
server accepts, so they are applied at their successors) plus what only a live cluster shows: the `default`
Namespace without Pod Security labels."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.cli.audit.checks import audit
from fabrikam.cli.audit.deprecations import REMOVED_APIS
from fabrikam.cli.audit.sources import read_manifests

pytestmark = pytest.mark.cluster

SEED_CLUSTER = Path(__file__).resolve().parents[2] / "fixtures" / "seed-cluster"
FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))
SUCCESSOR = {"apps/v1beta1": "apps/v1", "autoscaling/v2beta2": "autoscaling/v2"}


def applicable(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fixture as today's API server accepts it: removed versions at their successors (the fixture's objects
    carry what those need, e.g. a selector), NodePorts allocated by the cluster so no other test's can collide."""
    converted = []
    for obj in copy.deepcopy(objects):
        if (obj["apiVersion"], obj["kind"]) in REMOVED_APIS:
            obj["apiVersion"] = SUCCESSOR[obj["apiVersion"]]
        for port in obj.get("spec", {}).get("ports", []) if obj["kind"] == "Service" else []:
            port.pop("nodePort", None)
        converted.append(obj)
    return converted


@pytest.fixture(scope="module")
def seed_applied(cluster: Any) -> Iterator[list[dict[str, Any]]]:
    objects = applicable(read_manifests([str(SEED_CLUSTER)]).objects)
    manifest = yaml.safe_dump_all(objects)
    cluster.kubectl("apply", "-f", "-", input=manifest)
    yield objects
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=manifest, check=False)


def live_audit(cluster: Any, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FABRIKAM, "audit", "--kubeconfig", str(cluster.kubeconfig), "--namespace", "default", *options],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_live_cluster_shows_every_problem_its_manifests_show(cluster: Any, seed_applied: Any) -> None:
    result = live_audit(cluster, "-o", "json")
    assert result.returncode == 0, result.stderr
    live = {(f["rule"], f["object"]["kind"], f["object"]["name"]) for f in json.loads(result.stdout)["findings"]}
    manifests = {
        (f.rule, f.object.kind, f.object.name)
        for f in audit(read_manifests([str(SEED_CLUSTER)]).objects)
        if f.rule != "deprecated-api"
    }
    assert manifests - live == set()


def test_only_the_live_cluster_shows_the_default_namespace_admits_any_pod(cluster: Any, seed_applied: Any) -> None:
    labels = json.loads(cluster.kubectl("get", "namespace", "default", "-o", "json").stdout)["metadata"]["labels"]
    if labels.get("pod-security.kubernetes.io/enforce") in ("baseline", "restricted"):
        pytest.skip("this cluster enforces Pod Security on default")
    findings = json.loads(live_audit(cluster, "-o", "json").stdout)["findings"]
    assert {"rule": "no-pod-security-admission", "kind": "Namespace", "name": "default"} in [
        {"rule": f["rule"], "kind": f["object"]["kind"], "name": f["object"]["name"]} for f in findings
    ]


def test_spot_nodes_carrying_the_spot_taint_are_not_reported(cluster: Any, seed_applied: Any) -> None:
    """The local cluster's simulated spot node is tainted as AKS taints spot pools."""
    findings = json.loads(live_audit(cluster, "-o", "json").stdout)["findings"]
    untainted = {f["object"]["name"] for f in findings if f["rule"] == "spot-node-untainted"}
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    tainted = {
        n["metadata"]["name"]
        for n in nodes
        if any(t.get("key") == "kubernetes.azure.com/scalesetpriority" for t in n["spec"].get("taints", []))
    }
    assert not untainted & tainted


def test_live_sarif_locates_results_by_object_name_and_fail_on_exits_1(cluster: Any, seed_applied: Any) -> None:
    result = live_audit(cluster, "-o", "sarif", "--fail-on", "critical")
    assert result.returncode == 1, result.stderr
    results = json.loads(result.stdout)["runs"][0]["results"]
    privileged = next(r for r in results if r["ruleId"] == "privileged")
    assert privileged["locations"] == [
        {
            "logicalLocations": [
                {
                    "name": "drone-scheduler",
                    "fullyQualifiedName": "default/Deployment/drone-scheduler",
                    "kind": "resource",
                }
            ]
        }
    ]

"""metrics-server, an HPA that acts on real CPU, and a drain that waits for a PodDisruptionBudget."""

import json
import subprocess
from typing import Any

from fabrikam.devcluster import toolchain

from .conftest import SLEEP, apply, deployment, pods, ready_pods, wait_for

# Burns CPU for a while after it starts, then idles: the HPA sees load, scales up, then sees none and scales down.
BURN_THEN_IDLE = [
    "python3",
    "-c",
    "import time\nend = time.time() + 45\nwhile time.time() < end: pass\ntime.sleep(86400)",
]


def _replicas(cluster: Any, namespace: str) -> int:
    status = json.loads(cluster.kubectl("-n", namespace, "get", "deployment", "burner", "-o", "json").stdout)
    return int(status["spec"]["replicas"])


def test_kubectl_top_shows_figures_and_an_hpa_scales_up_then_down(
    cluster: Any, namespace: str, real_nodes: list[str], probe_image: str
) -> None:
    resources = {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}
    burner = deployment("burner", namespace, probe_image, BURN_THEN_IDLE, container={"resources": resources})
    burner["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] = "ScheduleAnyway"
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "burner", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burner"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
            # Without the default 5-minute stabilisation, so the way down is seen within the test.
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                }
            },
        },
    }
    apply(cluster, burner, hpa)
    wait_for(lambda: ready_pods(cluster, namespace, "app=burner"), "the burner Ready", timeout=180)

    def top() -> list[list[str]]:
        result = cluster.kubectl("-n", namespace, "top", "pods", "--no-headers", check=False)
        return [line.split() for line in result.stdout.splitlines()] if result.returncode == 0 else []

    figures = wait_for(top, "kubectl top pods figures", timeout=120, interval=3)
    cpu = int(figures[0][1].removesuffix("m"))
    assert cpu >= 100, figures  # the pod burns up to its 200m limit
    assert figures[0][2].endswith("Mi")
    nodes = cluster.kubectl("top", "nodes", "--no-headers").stdout
    assert all(name in nodes for name in real_nodes)

    wait_for(lambda: _replicas(cluster, namespace) > 1, "the HPA scaling up", timeout=150, interval=3)
    wait_for(lambda: _replicas(cluster, namespace) == 1, "the HPA scaling back down", timeout=300, interval=5)
    events = cluster.kubectl(
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=HorizontalPodAutoscaler",
        "-o",
        "jsonpath={.items[*].message}",
    ).stdout
    assert "above target" in events, events
    assert "below target" in events, events


def test_a_drain_of_a_real_node_waits_for_the_pod_disruption_budget(
    cluster: Any, namespace: str, real_nodes: list[str], probe_image: str
) -> None:
    guarded = deployment("guarded", namespace, probe_image, SLEEP, replicas=2)
    guarded["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] = "ScheduleAnyway"
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "guarded", "namespace": namespace},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}},
    }
    apply(cluster, guarded, budget)
    running = wait_for(
        lambda: (
            len(ready_pods(cluster, namespace, "app=guarded")) == 2 and ready_pods(cluster, namespace, "app=guarded")
        ),
        "two guarded pods",
        timeout=180,
    )
    node = running[0]["spec"]["nodeName"]
    drain = [
        str(toolchain.expected_binaries().kubectl),
        f"--kubeconfig={cluster.kubeconfig}",
        "drain",
        node,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--pod-selector=app=guarded",
    ]
    try:
        refused = subprocess.run([*drain, "--timeout=15s"], capture_output=True, text=True)
        assert refused.returncode != 0
        assert "violate the pod's disruption budget" in refused.stdout + refused.stderr
        assert {p["metadata"]["name"] for p in ready_pods(cluster, namespace, "app=guarded")} == {
            p["metadata"]["name"] for p in running
        }  # nothing was evicted

        cluster.kubectl("-n", namespace, "patch", "pdb", "guarded", "--type=merge", "-p", '{"spec":{"minAvailable":1}}')
        drained = subprocess.run([*drain, "--timeout=120s"], capture_output=True, text=True)
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert "evicted" in drained.stdout
        after = wait_for(
            lambda: (
                len(ready_pods(cluster, namespace, "app=guarded")) == 2
                and ready_pods(cluster, namespace, "app=guarded")
            ),
            "the evicted pod replaced",
            timeout=180,
        )
        assert all(p["spec"]["nodeName"] != node for p in after)
        assert all(p["spec"]["nodeName"] != node for p in pods(cluster, namespace, "app=guarded"))
    finally:
        cluster.kubectl("uncordon", node)

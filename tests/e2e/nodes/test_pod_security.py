"""The operator's rendered pod, run for real in a PodSecurity `restricted` namespace on a real node."""

import copy
from pathlib import Path
from typing import Any

import yaml

from fabrikam.operator.render.documents import render_documents

from .conftest import ON_REAL_NODES, SLEEP, apply, ready_pods, wait_for

SAMPLE = Path(__file__).resolve().parents[3] / "config" / "samples" / "platform.yaml"


def _rendered_ingestion(namespace: str, image: str) -> list[dict[str, Any]]:
    """The ingestion service's ServiceAccount, ConfigMap and Deployment exactly as rendered, moved into the test's
    namespace; only the image (ours, by digest), the command (a sleep, so nothing else is needed) and the probes
    that would wait for the real server differ."""
    documents = list(yaml.safe_load_all(SAMPLE.read_text()))
    rendered = [
        copy.deepcopy(o)
        for o in render_documents(documents).objects
        if o["metadata"].get("name", "").startswith("ingestion")
        and o["kind"] in ("ServiceAccount", "ConfigMap", "Deployment")
    ]
    assert {o["kind"] for o in rendered} == {"ServiceAccount", "ConfigMap", "Deployment"}, rendered
    for item in rendered:
        item["metadata"]["namespace"] = namespace
        item["metadata"].pop("ownerReferences", None)
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    deployment["spec"]["replicas"] = 1
    pod = deployment["spec"]["template"]["spec"]
    pod |= ON_REAL_NODES
    container = pod["containers"][0]
    container |= {"image": image, "command": SLEEP}
    container.pop("args", None)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        container.pop(probe)
    return rendered


def test_a_rendered_pod_runs_as_10001_on_a_read_only_root_without_capabilities(
    cluster: Any, namespace: str, real_nodes: list[str], workloads_image: str
) -> None:
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    objects = _rendered_ingestion(namespace, workloads_image)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"]
    apply(cluster, *objects)
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    pod = wait_for(lambda: ready_pods(cluster, namespace, selector), "the rendered pod Ready", timeout=240)[0]
    assert pod["spec"]["nodeName"] in real_nodes

    def run(*command: str) -> Any:
        return cluster.kubectl("-n", namespace, "exec", pod["metadata"]["name"], "--", *command, check=False)

    assert run("id", "-u").stdout.strip() == "10001"
    assert run("id", "-g").stdout.strip() == "10001"
    read_only = run("touch", "/probe")
    assert read_only.returncode != 0
    assert "Read-only file system" in read_only.stderr
    assert run("touch", "/tmp/probe").returncode == 0  # the rendered emptyDir is the only writable place
    capabilities = dict(
        line.split(":\t") for line in run("cat", "/proc/self/status").stdout.splitlines() if line.startswith("Cap")
    )
    assert capabilities["CapEff"] == capabilities["CapPrm"] == capabilities["CapBnd"] == "0000000000000000"
    assert run("grep", "NoNewPrivs", "/proc/self/status").stdout.split() == ["NoNewPrivs:", "1"]


def test_a_pod_asking_for_root_is_refused_by_admission(cluster: Any, namespace: str, probe_image: str) -> None:
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": namespace},
        "spec": {
            **ON_REAL_NODES,
            "containers": [
                {"name": "root", "image": probe_image, "command": SLEEP, "securityContext": {"runAsUser": 0}}
            ],
        },
    }
    refused = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod), check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr
    assert "runAsNonRoot" in refused.stderr
    assert "runAsUser=0" in refused.stderr
    assert cluster.kubectl("-n", namespace, "get", "pods", "-o", "name").stdout == ""

"""Fixtures for tests on the real nodes: images from the local registry, pods steered to real nodes, kubectl helpers.

On the local cluster the real nodes are the ones labelled `type: real` (and tainted so nothing lands there unasked);
the pods these tests make tolerate the taint and select the label.
"""

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import images, platform_install, toolchain
from fabrikam.devcluster.realnode_config import NODE_TYPE_LABEL, REAL_NODE_TAINT, REAL_NODE_TYPE

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = platform_install.OPERATOR_NAMESPACE
RELEASE = platform_install.OPERATOR_RELEASE

ON_REAL_NODES: dict[str, Any] = {
    "nodeSelector": {NODE_TYPE_LABEL: REAL_NODE_TYPE},
    "tolerations": [{"key": REAL_NODE_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}],
}


@pytest.fixture(scope="session")
def real_nodes(cluster: Any) -> list[str]:
    names = [
        n.metadata.name for n in cluster.core.list_node(label_selector=f"{NODE_TYPE_LABEL}={REAL_NODE_TYPE}").items
    ]
    assert len(names) >= 2, f"these tests need at least two real nodes, the cluster has {names}"
    return sorted(names)


@pytest.fixture(scope="session")
def probe_image() -> str:
    """The Debian base with Python: small servers and clients written in a line of Python."""
    return images.base_image()


@pytest.fixture(scope="session")
def workloads_image() -> str:
    return images.build_images().workloads


def apply(cluster: Any, *objects: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as error:
            last = error
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")


def pods(cluster: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def ready_pods(cluster: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    def ready(pod: dict[str, Any]) -> bool:
        conditions = pod.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    return [p for p in pods(cluster, namespace, selector) if ready(p) and not p["metadata"].get("deletionTimestamp")]


def deployment(
    name: str,
    namespace: str,
    image: str,
    command: list[str],
    *,
    replicas: int = 1,
    pod_labels: dict[str, str] | None = None,
    **pod: Any,
) -> dict[str, Any]:
    """A Deployment on the real nodes, one per node where it can (spread by hostname)."""
    labels = {"app": name}
    container: dict[str, Any] = {"name": name, "image": image, "command": command}
    container |= pod.pop("container", {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels | (pod_labels or {})},
                "spec": {
                    **ON_REAL_NODES,
                    "terminationGracePeriodSeconds": 1,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                    "containers": [container],
                    **pod,
                },
            },
        },
    }


def service(name: str, namespace: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": port}]},
    }


# A web server answering its pod's name, in the probe image (python3); logs each request on stderr.
HOSTNAME_SERVER = [
    "python3",
    "-c",
    "import http.server, socket\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = socket.gethostname().encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()\n",
]
# What PodSecurity `restricted` asks of a pod (the platform's namespaces enforce it), as `deployment(**...)` keywords.
RESTRICTED_POD: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
    "container": {"securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}},
}
SLEEP = ["python3", "-c", "import time; time.sleep(86400)"]


def _helm(cluster: Any, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        [str(toolchain.expected_binaries().helm), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def installed(cluster: Any, real_nodes: list[str]) -> Iterator[str]:
    """The operator installed by its chart (image by digest from the local registry) on a real node, as
    `make demo` installs it."""
    reference = images.build_images().operator
    try:
        platform_install.install_operator(cluster.kubeconfig, reference, progress=lambda message: None)
        yield reference
    finally:
        _helm(cluster, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout=120s", check=False)
        cluster.kubectl("delete", "namespace", NAMESPACE, "--timeout=120s", check=False)


@contextlib.contextmanager
def port_forward(cluster: Any, namespace: str, target: str, port: int) -> Iterator[str]:
    """`kubectl port-forward` to `target` (e.g. svc/ingestion) on a free local port: yields its base URL."""
    with platform_install.port_forward(cluster.kubeconfig, namespace, target, port) as url:
        yield url

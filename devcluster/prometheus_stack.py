"""A Prometheus on the real nodes, run the way a cluster with kube-prometheus-stack runs one: the Prometheus Operator
(its CRDs, RBAC and Deployment as the pinned release ships them under `example/`) and a `Prometheus` object that
selects every PodMonitor and PrometheusRule. What it scrapes and which alerts it evaluates are then exactly what the
DeliveryPlatform's operator rendered, read by the real tool, not by a translation of ours.

Images: the three binaries built from the pinned Go modules (`versions.PROMETHEUS_*_BINARY`), each in an image FROM
scratch in the local registry (`images.static_image`). The builders below are pure; `release()` and `build_images()`
do the I/O.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fabrikam.devcluster import images, toolchain, versions

Manifest = dict[str, Any]
Progress = Callable[[str], None]

NAMESPACE = "monitoring"
PROMETHEUS = "fabrikam"
"""The `Prometheus` object's name: the operator names its StatefulSet and first pod `prometheus-fabrikam(-0)`."""
PORT = 9090
_MODULE = f"github.com/prometheus-operator/prometheus-operator@{versions.PROMETHEUS_OPERATOR}"
# The user of the images FROM scratch; the Prometheus pod's volumes are group-writable to it through fsGroup.
_USER = 65534


@dataclass(frozen=True)
class StackImages:
    operator: str
    config_reloader: str
    prometheus: str


@dataclass(frozen=True)
class Release:
    """The pinned release: its example manifests parsed, by file under the module's `example/` folder, and its CRDs
    as files (kubectl applies them as they are: PyYAML cannot read the `=` in their schemas' enums)."""

    documents: dict[str, list[Manifest]]
    crds: tuple[Path, ...]

    def file(self, path: str) -> list[Manifest]:
        return copy.deepcopy(self.documents[path])


_FILES = (
    "rbac/prometheus-operator/prometheus-operator-service-account.yaml",
    "rbac/prometheus-operator/prometheus-operator-cluster-role.yaml",
    "rbac/prometheus-operator/prometheus-operator-cluster-role-binding.yaml",
    "rbac/prometheus-operator/prometheus-operator-deployment.yaml",
    "rbac/prometheus/prometheus-service-account.yaml",
    "rbac/prometheus/prometheus-cluster-role.yaml",
    "rbac/prometheus/prometheus-cluster-role-binding.yaml",
)


def release(progress: Progress = print) -> Release:
    """The release's example manifests and every CRD (the operator watches all of its kinds, not only the three the
    platform renders), from the Go module cache (downloaded once through the proxy)."""
    progress(f"reading the Prometheus Operator {versions.PROMETHEUS_OPERATOR} manifests from its Go module")
    listed = subprocess.run(["go", "mod", "download", "-json", _MODULE], capture_output=True, text=True, check=True)
    example = Path(json.loads(listed.stdout)["Dir"]) / "example"
    documents = {path: [d for d in yaml.safe_load_all((example / path).read_text()) if d] for path in _FILES}
    return Release(documents, tuple(sorted((example / "prometheus-operator-crd").glob("*.yaml"))))


def build_images(progress: Progress = print) -> StackImages:
    """The operator, its config reloader and Prometheus, built from their pinned modules once per machine."""

    def image(spec: versions.GoBinary, inside: str) -> str:
        binary = toolchain.go_binary(spec, progress)
        return images.static_image(f"fabrikam/{spec.name}", {inside: binary}, [inside], f"{_USER}:{_USER}", progress)

    return StackImages(
        operator=image(versions.PROMETHEUS_OPERATOR_BINARY, "/bin/operator"),
        config_reloader=image(versions.PROMETHEUS_CONFIG_RELOADER_BINARY, "/bin/prometheus-config-reloader"),
        # /prometheus is where the operator mounts the TSDB: the binary lives in /bin, as in the upstream image.
        prometheus=image(versions.PROMETHEUS_SERVER_BINARY, "/bin/prometheus"),
    )


def _in_namespace(document: Manifest) -> Manifest:
    if document["kind"] == "ClusterRoleBinding":
        for subject in document["subjects"]:
            subject["namespace"] = NAMESPACE
    elif document["kind"] not in ("ClusterRole",):
        document["metadata"]["namespace"] = NAMESPACE
    return document


def stack(source: Release, built: StackImages, placement: Manifest, *, scrape_interval: str = "5s") -> list[Manifest]:
    """The namespace, the operator with its RBAC, Prometheus' RBAC and the `Prometheus` object.

    `placement`: nodeSelector and tolerations of the pods (the real nodes). Scrapes and rule evaluations every
    `scrape_interval` (the test's clock; 30 s is usual), every PodMonitor and PrometheusRule of every namespace
    selected: this Prometheus watches the whole cluster, as kube-prometheus-stack's does with its selectors emptied.
    """
    documents: list[Manifest] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for path in _FILES:
        documents += [_in_namespace(doc) for doc in source.file(path)]
    (operator,) = (d for d in documents if d["kind"] == "Deployment")
    pod = operator["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    container["image"] = built.operator
    container["args"] = [
        f"--prometheus-config-reloader={built.config_reloader}",
        # No kubelet Service to maintain: nothing here scrapes the kubelets.
        *(arg for arg in container["args"] if not arg.startswith(("--prometheus-config-reloader=", "--kubelet-"))),
    ]
    pod.update(copy.deepcopy(placement))
    return [*documents, prometheus(built, placement, scrape_interval=scrape_interval)]


def prometheus(built: StackImages, placement: Manifest, *, scrape_interval: str) -> Manifest:
    """The `Prometheus` object: one replica of the pinned server, selecting every PodMonitor and PrometheusRule."""
    everything: Manifest = {}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": PROMETHEUS, "namespace": NAMESPACE},
        "spec": {
            "image": built.prometheus,
            "version": f"v{versions.prometheus_release()}",
            "replicas": 1,
            "serviceAccountName": "prometheus",
            "scrapeInterval": scrape_interval,
            "evaluationInterval": scrape_interval,
            "podMonitorSelector": everything,
            "podMonitorNamespaceSelector": everything,
            "ruleSelector": everything,
            "ruleNamespaceSelector": everything,
            "serviceMonitorSelector": everything,
            "serviceMonitorNamespaceSelector": everything,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": _USER,
                "runAsGroup": _USER,
                "fsGroup": _USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            **copy.deepcopy(placement),
        },
    }

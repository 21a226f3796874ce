"""The platform on the local cluster's real nodes, as `fabrikam demo` and the e2e tests install it.

The operator by its Helm chart (image by digest from the local registry), `config/samples/platform-dev.yaml` with the
images built from this checkout, and the platform's services reached from this machine through port-forwards.
"""

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from fabrikam.devcluster import backing_images, images, toolchain
from fabrikam.devcluster.backing_images import BackingImages
from fabrikam.devcluster.paths import repository_root
from fabrikam.devcluster.realnode_config import NODE_TYPE_LABEL, REAL_NODE_TAINT, REAL_NODE_TYPE

Progress = Callable[[str], None]

OPERATOR_NAMESPACE = "fabrikam-system"
OPERATOR_RELEASE = "fabrikam-operator"
DEV_PLATFORM = Path("config") / "samples" / "platform-dev.yaml"
# The bundled services of platform-dev.yaml by namespace, named as the fleet simulator names them (those of the
# local stack): its "scheduler" is the drone-scheduler Service.
SIMULATOR_SERVICES: dict[str, tuple[str, str]] = {
    "ingestion": ("fabrikam-shipping", "ingestion"),
    "workflow": ("fabrikam-shipping", "workflow"),
    "delivery": ("fabrikam-shipping", "delivery"),
    "scheduler": ("fabrikam-shipping", "drone-scheduler"),
    "package": ("fabrikam-customer", "package"),
    "notification": ("fabrikam-customer", "notification"),
    "account": ("fabrikam-customer", "account"),
    "drone-telemetry": ("fabrikam-customer", "drone-telemetry"),
}


class InstallError(RuntimeError):
    """The operator's chart did not install; the message carries helm's own output."""


def _by_digest(reference: str) -> dict[str, str]:
    repository, digest = reference.split("@")
    return {"repository": repository, "digest": digest}


def operator_values(operator_image: str) -> dict[str, Any]:
    """The chart's values: the image by digest, on a real node (their label, a toleration of their taint)."""
    return {
        "image": _by_digest(operator_image),
        "nodeSelector": {NODE_TYPE_LABEL: REAL_NODE_TYPE},
        "tolerations": [{"key": REAL_NODE_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}],
        "operator": {"resyncSeconds": 30},
    }


def install_operator(kubeconfig: Path, operator_image: str, progress: Progress = print) -> None:
    """`helm upgrade --install` of charts/operator (CRDs included), waiting for its pod: a rerun on a cluster that
    has it already upgrades in place."""
    helm = toolchain.expected_binaries().helm
    with tempfile.NamedTemporaryFile("w", prefix="operator-values-", suffix=".yaml") as values:
        values.write(yaml.safe_dump(operator_values(operator_image)))
        values.flush()
        progress(f"helm upgrade --install {OPERATOR_RELEASE} charts/operator -n {OPERATOR_NAMESPACE}")
        result = subprocess.run(
            [
                str(helm),
                f"--kubeconfig={kubeconfig}",
                "upgrade",
                "--install",
                OPERATOR_RELEASE,
                str(repository_root() / "charts" / "operator"),
                "-n",
                OPERATOR_NAMESPACE,
                "--create-namespace",
                "--wait",
                "--timeout=240s",
                "-f",
                values.name,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    if result.returncode != 0:
        raise InstallError(f"helm upgrade --install {OPERATOR_RELEASE}:\n{result.stdout}{result.stderr}")


def with_images(document: dict[str, Any], workloads: str, stores: BackingImages) -> dict[str, Any]:
    """The platform document with the services' and the stores' images replaced by these references."""
    spec = document["spec"]
    spec["image"] = _by_digest(workloads)
    in_cluster = spec["backing"]["inCluster"]
    in_cluster["redis"]["image"] = _by_digest(stores.redis)
    in_cluster["mongo"]["image"] = _by_digest(stores.mongo)
    in_cluster["postgres"]["image"] = _by_digest(stores.postgres)
    in_cluster["mail"]["image"] = _by_digest(stores.mail)
    return document


def dev_platform_document(progress: Progress = print) -> dict[str, Any]:
    """The committed sample with the images built from this checkout, by the digests the local registry reports."""
    document: dict[str, Any] = yaml.safe_load((repository_root() / DEV_PLATFORM).read_text())
    return with_images(document, images.build_images(progress).workloads, backing_images.build(progress))


@contextlib.contextmanager
def port_forward(kubeconfig: Path, namespace: str, target: str, port: int) -> Iterator[str]:
    """`kubectl port-forward` to `target` (e.g. svc/ingestion) on a free local port: yields its base URL."""
    process = subprocess.Popen(
        [
            str(toolchain.expected_binaries().kubectl),
            f"--kubeconfig={kubeconfig}",
            "-n",
            namespace,
            "port-forward",
            target,
            f":{port}",
            "--address=127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> TARGET"
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if match is None:
            assert process.stderr is not None
            raise InstallError(f"port-forward to {namespace}/{target} failed: {line}{process.stderr.read()}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def service_urls(kubeconfig: Path) -> Iterator[dict[str, str]]:
    """Every bundled service through a port-forward to its Service, keyed as the fleet simulator names them."""
    with contextlib.ExitStack() as stack:
        yield {
            key: stack.enter_context(port_forward(kubeconfig, namespace, f"svc/{name}", 80))
            for key, (namespace, name) in SIMULATOR_SERVICES.items()
        }

"""The chart installed for real, and the operator process running with nothing but the chart's ServiceAccount.

The cluster is a private local control plane (FABRIKAM_CLUSTER_DIR), not the shared one: other tests run operators
with admin credentials cluster-wide, and any of them would reconcile our platform too, proving nothing about the
chart's RBAC. With $KUBECONFIG set, that cluster is used instead (as every cluster-facing test does).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabrikam.devcluster import toolchain
from fabrikam.devcluster.kubeconfig import write_service_account
from fabrikam.devcluster.processes import free_port

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "operator"
FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))


@dataclass
class Kube:
    """kubectl and helm against one kubeconfig, with output captured as text."""

    kubeconfig: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run(str(toolchain.expected_binaries().kubectl), *args, input=input, check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run(str(toolchain.expected_binaries().helm), *args, input=None, check=check)

    def _run(self, binary: str, *args: str, input: str | None, check: bool) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, f"--kubeconfig={self.kubeconfig}", *args], input=input, capture_output=True, text=True, timeout=300
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{Path(binary).name} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    if os.environ.get("KUBECONFIG"):
        yield Kube(Path(os.environ["KUBECONFIG"]))
        return
    # RBAC is proven on simulated nodes; the chart on real nodes is the platform's own test (issue 13).
    cluster_dir = tmp_path_factory.mktemp("chart-cluster") / "cluster"
    env = {**os.environ, "FABRIKAM_CLUSTER_DIR": str(cluster_dir), "FABRIKAM_REAL_NODES": "0"}
    try:
        up = subprocess.run([FABRIKAM, "cluster", "up"], capture_output=True, text=True, env=env, timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        yield Kube(Path(up.stdout.strip().splitlines()[-1]))
    finally:
        subprocess.run([FABRIKAM, "cluster", "down"], capture_output=True, env=env, timeout=120)


@dataclass
class Release:
    name: str
    namespace: str
    service_account: str


@pytest.fixture(scope="module")
def release(admin: Kube) -> Iterator[Release]:
    """The chart installed with helm (CRDs from its crds/), in a namespace that enforces the restricted policy."""
    suffix = uuid.uuid4().hex[:6]
    release = Release(f"fabrikam-operator-{suffix}", f"fabrikam-system-{suffix}", "")
    admin.kubectl("create", "namespace", release.namespace)
    admin.kubectl("label", "namespace", release.namespace, "pod-security.kubernetes.io/enforce=restricted")
    # The stand-in for the Secrets Store CSI driver's CRD, as on an AKS cluster with the Key Vault add-on.
    admin.kubectl("apply", "--server-side", "-f", str(ROOT / "config" / "dependencies"))
    try:
        admin.helm("install", release.name, str(CHART), "-n", release.namespace, "--wait", "--timeout=120s")
        release.service_account = release.name  # the release name contains the chart name: fullname = release
        yield release
    finally:
        admin.helm("uninstall", release.name, "-n", release.namespace, "--wait", "--timeout=60s", check=False)
        admin.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def operator_kubeconfig(admin: Kube, release: Release, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig with only a TokenRequest token of the chart's ServiceAccount: the pod's identity, off-cluster."""
    path = tmp_path_factory.mktemp("operator-identity") / "kubeconfig"
    return write_service_account(path, admin.kubeconfig, release.namespace, release.service_account)


@dataclass
class OperatorRun:
    process: subprocess.Popen[bytes]
    log: Path
    health_url: str
    metrics_url: str

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def operator_as_service_account(operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`fabrikam operator run`, the image's entrypoint, with the ServiceAccount's kubeconfig and the chart's env."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    health_port, metrics_port = free_port(), free_port()
    env = {
        **{key: value for key, value in os.environ.items() if key != "KUBECONFIG"},
        "FABRIKAM_OPERATOR_METRICS_PORT": str(metrics_port),
        "FABRIKAM_OPERATOR_RESYNC_SECONDS": "10",
    }
    command = [
        FABRIKAM,
        "operator",
        "run",
        f"--kubeconfig={operator_kubeconfig}",
        f"--liveness=http://127.0.0.1:{health_port}/healthz",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    run = OperatorRun(
        process, log, f"http://127.0.0.1:{health_port}/healthz", f"http://127.0.0.1:{metrics_port}/metrics"
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the operator exited:\n{run.text()[-4000:]}"
            try:
                if httpx.get(run.health_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no /healthz within 60s:\n{run.text()[-4000:]}"
            time.sleep(0.2)
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

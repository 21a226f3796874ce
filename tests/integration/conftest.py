"""Integration fixtures: the operator as it runs for real (CRDs installed, `fabrikam operator run` as a separate
process) and helpers to drive it through kubectl."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fabrikam.devcluster import kubectl
from fabrikam.devcluster.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.kubeconfig, self.log, self.extra_env = kubeconfig, log, env or {}
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "FABRIKAM_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "FABRIKAM_OPERATOR_RESYNC_SECONDS": "10",
            **self.extra_env,
        }
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [
                    FABRIKAM,
                    "operator",
                    "run",
                    f"--kubeconfig={self.kubeconfig}",
                    f"--liveness=http://127.0.0.1:{free_port()}/healthz",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2)
                return
            except httpx.TransportError:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                time.sleep(0.2)
        raise TimeoutError(f"the operator did not serve metrics within 60s; log: {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a node dies or the OOM killer strikes."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric of the operator over series matching the labels (0 before the first sample)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total


def install_crds(cluster: Any) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "config" / "dependencies"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


@pytest.fixture(scope="module")
def operator_factory(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Starts operator processes (with extra environment) and stops them after the module."""
    install_crds(cluster)
    started: list[OperatorProcess] = []

    def start(env: dict[str, str] | None = None) -> OperatorProcess:
        process = OperatorProcess(cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "operator.log", env)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        if process.process and process.process.returncode not in (0, -signal.SIGTERM):
            print(process.log.read_text()[-5000:])


@pytest.fixture(scope="module")
def operator(operator_factory: Any) -> OperatorProcess:
    process: OperatorProcess = operator_factory()
    return process


def sample_platform(suffix: str | None = None) -> dict[str, Any]:
    """The full sample platform under a unique name and namespaces, so tests never collide."""
    suffix = suffix or uuid.uuid4().hex[:6]
    platform: dict[str, Any] = yaml.safe_load((ROOT / "config" / "samples" / "platform.yaml").read_text())
    platform["metadata"]["name"] = f"fabrikam-{suffix}"
    platform["spec"].pop("azure", None)
    for team in platform["spec"]["teams"]:
        team["namespace"] = f"{team['namespace']}-{suffix}"
    return platform


def apiserver_writes(cluster: Any) -> int:
    return sum(apiserver_writes_by_resource(cluster).values())


def apiserver_writes_by_resource(cluster: Any) -> dict[str, int]:
    """Write requests the API server counted for the resources the operator manages (its own /metrics)."""
    return kubectl.operator_writes(cluster.kubeconfig)


def wait_ready(cluster: Any, resource: str, timeout: int = 120, namespace: str | None = None) -> None:
    args = ["wait", "--for=condition=Ready", resource, f"--timeout={timeout}s"]
    if namespace:
        args += ["-n", namespace]
    started = time.monotonic()
    result = cluster.kubectl(*args, check=False)
    assert result.returncode == 0, f"{resource} not Ready after {time.monotonic() - started:.0f}s: {result.stderr}"


@pytest.fixture(scope="session")
def kit() -> Any:
    """The helpers above for test modules (which cannot import conftest under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        sample_platform=sample_platform,
        apiserver_writes=apiserver_writes,
        apiserver_writes_by_resource=apiserver_writes_by_resource,
        wait_ready=wait_ready,
    )

"""Fixtures shared by every tier: a Kubernetes cluster for the session and a fresh namespace per test; and what
tests import from here (`from ...conftest import wait_for_value`): the polling helpers and a delivery request.

The cluster is, in order of preference: the one `$KUBECONFIG` points at (kind, AKS, ...), a kind cluster through
pytest-kind-ng where a Docker engine and kind exist, else the project's local control plane.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from fabrikam.devcluster import cluster as local_cluster
from fabrikam.devcluster import kubectl

T = TypeVar("T")


@dataclass
class Cluster:
    """A reachable Kubernetes API with ready-made clients; `kind` says where it came from."""

    kubeconfig: Path
    kind: str
    api_client: Any = field(repr=False)

    @property
    def core(self) -> Any:
        return k8s.CoreV1Api(self.api_client)

    @property
    def apps(self) -> Any:
        return k8s.AppsV1Api(self.api_client)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs the pinned kubectl against this cluster; output is captured as text."""
        return kubectl.run(self.kubeconfig, *args, input=input, check=check)


def _docker_and_kind_available() -> bool:
    if not (shutil.which("docker") and shutil.which("kind")):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if os.environ.get("KUBECONFIG"):
        path = Path(os.environ["KUBECONFIG"])
        yield Cluster(path, "external", k8s_config.new_client_from_config(config_file=str(path)))
        return
    if _docker_and_kind_available():
        from pytest_kind import KindCluster  # type: ignore[import-untyped]

        kind = KindCluster("fabrikam-tests", kind_path=Path(shutil.which("kind") or "kind"))
        kind.create()
        try:
            path = Path(kind.kubeconfig_path)
            yield Cluster(path, "kind", k8s_config.new_client_from_config(config_file=str(path)))
        finally:
            kind.delete()
        return
    already_running = local_cluster.status().running
    state = local_cluster.up(progress=lambda message: None)
    try:
        yield Cluster(state.kubeconfig, "local", k8s_config.new_client_from_config(config_file=str(state.kubeconfig)))
    finally:
        if not already_running:
            local_cluster.down(progress=lambda message: None)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for the deletion to finish)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.core.create_namespace({"metadata": {"name": name, "labels": {"fabrikam.test": "true"}}})
    yield name
    try:
        cluster.core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


def wait_for(
    check: Callable[[], Any],
    *,
    timeout: float = 60.0,
    interval: float = 0.25,
    what: str = "",
    until: Callable[[Any], bool] = bool,
) -> Any:
    """Polls until `until` accepts what `check` returns (by default: until it is truthy) and returns that; fails
    with the last value or error after the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if until(last):
                return last
        except ApiException as error:
            last = error
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or check}; last: {last!r}")


def wait_for_value(check: Callable[[], T | None], what: str, *, timeout: float = 30.0, interval: float = 0.2) -> T:
    """`wait_for` of a check that answers None until it holds, then what it found: 0, [] or False too."""
    found: T = wait_for(check, timeout=timeout, interval=interval, what=what, until=lambda value: value is not None)
    return found


def delivery_body(index: int = 0) -> dict[str, Any]:
    """A delivery request the services accept; `index` moves the pickup and names the address and the package's
    tag, so that requests differ."""
    return {
        "owner": "owner-1",
        "pickup": {"latitude": 47.606 + index * 0.001, "longitude": -122.332, "address": f"{index} Pike St"},
        "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "package": {"size": "small", "weightKg": 1.0, "tag": f"tag-{index}"},
    }


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """The polling helper as a fixture (test modules cannot import each other under importlib mode)."""
    return wait_for


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes the handshake) and never says a word: a dependency
    that hangs, for the timeouts that must fire."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield int(listener.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: a dependency that refuses."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

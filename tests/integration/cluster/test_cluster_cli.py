"""`fabrikam cluster up|status|kubeconfig|down` as a user runs them, on a second, separate cluster."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from fabrikam.devcluster import processes

pytestmark = pytest.mark.cluster

FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FABRIKAM, "cluster", *args], capture_output=True, text=True, env=env, timeout=300)


def test_up_is_idempotent_serves_four_ready_nodes_and_down_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    # Simulated nodes only: the real nodes have tests of their own (tests/e2e/nodes).
    env = {**os.environ, "FABRIKAM_CLUSTER_DIR": str(state), "FABRIKAM_REAL_NODES": "0"}
    env.pop("KUBECONFIG", None)

    first = _run("up", env=env)
    assert first.returncode == 0, first.stderr
    kubeconfig = first.stdout.strip().splitlines()[-1]
    assert kubeconfig == str(state / "kubeconfig")
    try:
        api_client = k8s_config.new_client_from_config(config_file=kubeconfig)
        nodes = k8s.CoreV1Api(api_client).list_node().items
        assert len(nodes) == 4
        assert all({c.type: c.status for c in n.status.conditions}["Ready"] == "True" for n in nodes)
        assert k8s.VersionApi(api_client).get_code().git_version.startswith("v1.34.")

        again = _run("up", env=env)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1] == kubeconfig
        assert "already running" in again.stderr

        status = _run("status", env=env)
        assert status.returncode == 0, status.stdout
        assert "ready nodes              4" in status.stdout
        assert _run("kubeconfig", env=env).stdout.strip() == kubeconfig
        assert len(processes.processes_using(state)) == 5
    finally:
        stopped = _run("down", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert processes.processes_using(state) == []
    assert not state.exists()
    assert _run("status", env=env).returncode == 3

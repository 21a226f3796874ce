"""`fabrikam demo` as a newcomer runs it: a separate local cluster comes up and the nodes are shown."""

import os
import subprocess
import sys
from pathlib import Path

from fabrikam.devcluster import processes

FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))


def test_demo_brings_up_the_cluster_and_shows_its_four_nodes(tmp_path: Path) -> None:
    state = tmp_path / "demo-cluster"
    env = {**os.environ, "FABRIKAM_CLUSTER_DIR": str(state), "COLUMNS": "200"}
    try:
        shown = subprocess.run([FABRIKAM, "demo"], capture_output=True, text=True, env=env, timeout=300)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "Kubernetes v1.34.4" in shown.stdout
        assert "every DroneService Ready" in shown.stdout
        for node in ("fabrikam-zone1", "fabrikam-zone2", "fabrikam-zone3", "fabrikam-spot"):
            assert node in shown.stdout
        assert f"export KUBECONFIG={state / 'kubeconfig'}" in shown.stdout
    finally:
        subprocess.run([FABRIKAM, "cluster", "down"], capture_output=True, env=env, timeout=120)
    assert processes.processes_using(state) == []

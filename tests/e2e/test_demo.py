"""`fabrikam demo` as a newcomer runs it: a separate local cluster comes up, the operator installed by its chart runs
the platform's eight services on the real nodes, and a simulated fleet delivers through those pods."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fabrikam.devcluster import kubectl, processes
from fabrikam.devcluster.platform_install import SIMULATOR_SERVICES

FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))
REAL_NODES = ("fabrikam-real1", "fabrikam-real2")


def test_demo_runs_the_platform_on_real_pods_and_flies_a_fleet_through_them(tmp_path: Path) -> None:
    state = tmp_path / "demo-cluster"
    env = {**os.environ, "FABRIKAM_CLUSTER_DIR": str(state), "COLUMNS": "200"}
    try:
        shown = subprocess.run(
            [FABRIKAM, "demo", "--fleet-seconds", "15"], capture_output=True, text=True, env=env, timeout=900
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        output = shown.stdout
        print(output[output.find("Demo timings") :])
        assert "Kubernetes v1.34.4" in output
        for node in ("fabrikam-zone1", "fabrikam-zone2", "fabrikam-zone3", "fabrikam-spot", *REAL_NODES):
            assert node in output
        assert re.search(r"warm start to 8/8 Ready on real pods in \d+ s", output), output
        fleet = re.search(r"fleet against the pods: (\d+) deliveries requested, (\d+) arrived, (\d+) refused", output)
        assert fleet is not None, output
        print(fleet.group(0))
        requested, arrived, refused = map(int, fleet.groups())
        assert requested > 0
        assert arrived > 0
        assert refused == 0
        assert f"export KUBECONFIG={state / 'kubeconfig'}" in output

        listed = kubectl.run(state / "kubeconfig", "get", "pods", "-A", "-o", "json").stdout
        pods = [pod for pod in json.loads(listed)["items"] if not pod["metadata"].get("deletionTimestamp")]
        for namespace, name in SIMULATOR_SERVICES.values():
            theirs = [
                pod
                for pod in pods
                if pod["metadata"]["namespace"] == namespace
                and pod["metadata"].get("labels", {}).get("app.kubernetes.io/name") == name
            ]
            assert len(theirs) >= 2, (name, len(theirs))
            for pod in theirs:
                assert pod["status"]["phase"] == "Running", (pod["metadata"]["name"], pod["status"]["phase"])
                assert pod["spec"]["nodeName"] in REAL_NODES, (pod["metadata"]["name"], pod["spec"]["nodeName"])
    finally:
        subprocess.run([FABRIKAM, "cluster", "down"], capture_output=True, env=env, timeout=120)
    assert processes.processes_using(state) == []

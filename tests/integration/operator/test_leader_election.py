"""Two operator replicas, one active, on the local control plane: the holder of the Lease reconciles, the standby
writes nothing (the API server's audit log, by ServiceAccount), and after the holder is SIGKILLed the standby takes
over within the lease duration plus one retry. Each replica runs as its own ServiceAccount, as pods do."""

import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fabrikam.devcluster.cluster import audit_log
from fabrikam.devcluster.kubeconfig import write_service_account
from fabrikam.devcluster.paths import state_dir

from ..conftest import OperatorProcess

pytestmark = pytest.mark.cluster

LEASE_SECONDS, RETRY_SECONDS = 8, 1


def _writes_by(user: str, since: float) -> list[dict[str, Any]]:
    """The API server's audited writes by `user` after the wall-clock time `since`."""
    found = []
    for line in audit_log(state_dir()).read_text().splitlines():
        event = json.loads(line)
        stamp = event.get("stageTimestamp") or event["requestReceivedTimestamp"]
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        if event["user"]["username"] == user and moment >= since:
            found.append(event)
    return found


def _holder(cluster: Any, namespace: str) -> str | None:
    found = cluster.kubectl("get", "lease", "fabrikam-operator", "-n", namespace, "-o", "json", check=False)
    holder = json.loads(found.stdout)["spec"].get("holderIdentity") if found.returncode == 0 else None
    return str(holder).rsplit("_", 1)[0] if holder else None


def test_one_replica_reconciles_the_standby_writes_nothing_and_takes_over_after_a_sigkill(
    cluster: Any, operator_factory: Any, kit: Any, eventually: Any, tmp_path: Path
) -> None:
    if not audit_log(state_dir()).exists():
        pytest.fail(f"no audit log at {audit_log(state_dir())}: restart the local cluster (fabrikam cluster down/up)")
    namespace = f"operator-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    replicas = {}
    for name in ("replica-a", "replica-b"):
        cluster.kubectl("create", "serviceaccount", name, "-n", namespace)
        cluster.kubectl(
            "create",
            "clusterrolebinding",
            f"{namespace}-{name}",
            "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:{name}",
        )
        env = {
            "FABRIKAM_OPERATOR_LEADER_ELECTION": "true",
            "FABRIKAM_OPERATOR_LEASE_NAMESPACE": namespace,
            "FABRIKAM_OPERATOR_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
            "FABRIKAM_OPERATOR_LEASE_RENEW_DEADLINE_SECONDS": "6",
            "FABRIKAM_OPERATOR_LEASE_RETRY_SECONDS": str(RETRY_SECONDS),
            "POD_ID": name,
        }
        kubeconfig = write_service_account(tmp_path / f"{name}.kubeconfig", Path(cluster.kubeconfig), namespace, name)
        replicas[name] = OperatorProcess(kubeconfig, tmp_path / f"{name}.log", env)
    started = time.time()
    platform = kit.sample_platform()
    try:
        replicas["replica-a"].start()
        eventually(lambda: _holder(cluster, namespace) == "replica-a", what="replica-a to hold the lease")
        replicas["replica-b"].start()
        assert replicas["replica-b"].metric("fabrikam_operator_leader") == 0
        assert replicas["replica-a"].metric("fabrikam_operator_leader") == 1

        # The leader reconciles; the standby, watching nothing, writes nothing at all.
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
        kit.wait_ready(cluster, f"deliveryplatform/{platform['metadata']['name']}", timeout=180)
        time.sleep(2 * RETRY_SECONDS)
        leader_writes = _writes_by(f"system:serviceaccount:{namespace}:replica-a", started)
        assert len(leader_writes) > 50  # the platform's children, statuses, lease renewals
        assert _writes_by(f"system:serviceaccount:{namespace}:replica-b", started) == []

        # SIGKILL the leader: no release, the standby must wait the lease out.
        replicas["replica-a"].kill()
        killed = time.monotonic()
        eventually(
            lambda: _holder(cluster, namespace) == "replica-b",
            what="replica-b to take the lease",
            timeout=30,
            interval=0.1,
        )
        took_over = time.monotonic() - killed
        eventually(
            lambda: replicas["replica-b"].metric("fabrikam_operator_leader") == 1, what="replica-b leading", timeout=10
        )
        # ... and reconciles: a change made now reaches the platform's children.
        team = platform["spec"]["teams"][0]["namespace"]
        cluster.kubectl("delete", "networkpolicy", "default-deny", "-n", team)
        eventually(
            lambda: cluster.kubectl("get", "networkpolicy", "default-deny", "-n", team, check=False).returncode == 0,
            what="the new leader to restore a deleted child",
            timeout=60,
        )
        reconciling = time.monotonic() - killed
        print(f"\ntakeover after SIGKILL: lease {took_over:.1f} s, first repair {reconciling:.1f} s")
        assert took_over <= LEASE_SECONDS + 2 * RETRY_SECONDS + 1
        assert reconciling < 15
        assert replicas["replica-b"].metric("fabrikam_operator_leader") == 1

        # A clean stop (SIGTERM) releases the lease: the next replica takes it at its next try, not after expiry.
        replicas["replica-a"] = OperatorProcess(
            replicas["replica-a"].kubeconfig, tmp_path / "replica-a-again.log", replicas["replica-a"].extra_env
        )
        replicas["replica-a"].start()
        replicas["replica-b"].stop()
        stopped = time.monotonic()
        eventually(lambda: _holder(cluster, namespace) == "replica-a", what="replica-a to take the released lease")
        handover = time.monotonic() - stopped
        print(f"handover after SIGTERM: {handover:.1f} s")
        assert handover < LEASE_SECONDS
        assert httpx.get(f"http://127.0.0.1:{replicas['replica-a'].metrics_port}/metrics", timeout=5).status_code == 200
        cluster.kubectl("delete", "deliveryplatform", platform["metadata"]["name"], "--wait=true", "--timeout=60s")
    finally:
        for replica in replicas.values():
            replica.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        for name in ("replica-a", "replica-b"):
            cluster.kubectl("delete", "clusterrolebinding", f"{namespace}-{name}", check=False)

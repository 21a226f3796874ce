"""The operator as a user installs it: `helm install charts/operator` with the image built here, by digest from the
local registry, running as the chart's ServiceAccount on a real node, probed and scraped for real, reconciling."""

import json
import os
import signal
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from fabrikam.devcluster.cluster import audit_log
from fabrikam.devcluster.paths import state_dir

from .conftest import NAMESPACE, RELEASE, ROOT, SLEEP, apply, deployment, ready_pods, wait_for


def _holder(cluster: Any) -> str | None:
    """The pod holding the operator's Lease (its identity is `<pod>_<random>`: one per process)."""
    found = cluster.kubectl("-n", NAMESPACE, "get", "lease", RELEASE, "-o", "json", check=False)
    holder = json.loads(found.stdout)["spec"].get("holderIdentity") if found.returncode == 0 else None
    return str(holder).rsplit("_", 1)[0] if holder else None


def _writes_of_pod(pod: str, since: float) -> list[dict[str, Any]]:
    """The API server's audited writes made with `pod`'s ServiceAccount token (bound tokens name their pod)."""
    found = []
    for line in audit_log(state_dir()).read_text().splitlines():
        event = json.loads(line)
        stamp = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()
        pods = (event["user"].get("extra") or {}).get("authentication.kubernetes.io/pod-name", [])
        if pod in pods and stamp >= since:
            found.append(event)
    return found


def _host_pid(pod: str) -> int:
    """The operator process of `pod`, seen from the host (the real nodes' containers are host processes)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"POD_ID={pod}".encode() in environ and b"operator" in command:
            return int(entry.name)
    raise AssertionError(f"no process of pod {pod} on this host")


def test_the_chart_runs_the_operator_image_by_digest_on_a_real_node_as_its_service_account(
    cluster: Any, installed: str, real_nodes: list[str]
) -> None:
    pod = ready_pods(cluster, NAMESPACE, f"app.kubernetes.io/instance={RELEASE}")[0]
    assert pod["spec"]["nodeName"] in real_nodes
    assert pod["spec"]["containers"][0]["image"] == installed
    assert pod["spec"]["serviceAccountName"] == RELEASE
    status = pod["status"]["containerStatuses"][0]
    assert status["imageID"].endswith(installed.split("@")[1])  # the node pulled exactly that digest
    assert status["ready"] is True  # the readiness probe answered, for real
    assert status["restartCount"] == 0


def test_the_operator_in_its_pod_reconciles_a_platform_and_serves_its_metrics(
    cluster: Any, installed: str, namespace: str, probe_image: str, workloads_image: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    platform: dict[str, Any] = yaml.safe_load((ROOT / "config" / "samples" / "platform.yaml").read_text())
    platform["metadata"]["name"] = f"pod-{suffix}"
    platform["spec"].pop("azure", None)
    # As on AKS with ACR: the platform names the services' image by the digest the registry reports.
    repository, digest = workloads_image.split("@")
    platform["spec"]["image"] = {"repository": repository, "digest": digest}
    platform["spec"]["allowedRegistries"] = [repository.split("/")[0] + "/"]  # and allows only that registry
    for team in platform["spec"]["teams"]:
        team["namespace"] = f"{team['namespace']}-{suffix}"
    apply(cluster, platform)
    try:
        waited = cluster.kubectl(
            "wait", "--for=condition=Ready", f"deliveryplatform/pod-{suffix}", "--timeout=240s", check=False
        )
        logs = cluster.kubectl("-n", NAMESPACE, "logs", _holder(cluster) or "", "--tail=50", check=False).stdout
        assert waited.returncode == 0, f"{waited.stderr}\noperator log:\n{logs}"

        team_namespaces = {team["namespace"] for team in platform["spec"]["teams"]}
        rendered = [
            container["image"]
            for team in sorted(team_namespaces)
            for item in json.loads(cluster.kubectl("-n", team, "get", "deployments", "-o", "json").stdout)["items"]
            for container in item["spec"]["template"]["spec"]["containers"]
        ]
        assert len(rendered) == 8, rendered  # the eight bundled services
        assert set(rendered) == {workloads_image}

        apply(cluster, deployment("scraper", namespace, probe_image, SLEEP))
        scraper = wait_for(lambda: ready_pods(cluster, namespace, "app=scraper"), "the scraper Ready", timeout=180)[0]
        url = f"http://{RELEASE}-metrics.{NAMESPACE}.svc:8080/metrics"
        fetch = f"import urllib.request; print(urllib.request.urlopen('{url}', timeout=5).read().decode())"

        def scrape() -> str | None:
            """The leader's metrics: the Service also routes to the standby, which reconciles nothing."""
            pod = scraper["metadata"]["name"]
            result = cluster.kubectl("-n", namespace, "exec", pod, "--", "python3", "-c", fetch, check=False)
            assert result.returncode == 0, result.stderr[-600:]
            return str(result.stdout) if "\nfabrikam_operator_leader 1.0" in result.stdout else None

        scraped = wait_for(scrape, "a scrape of the leader through the metrics Service", timeout=60, interval=1)
        reconciles = [
            line
            for line in scraped.splitlines()
            if line.startswith("fabrikam_operator_reconciles_total{") and 'result="applied"' in line
        ]
        assert reconciles, [line for line in scraped.splitlines() if line.startswith("fabrikam_")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in reconciles) > 0
    finally:
        cluster.kubectl("delete", "deliveryplatform", f"pod-{suffix}", "--wait=true", "--timeout=120s", check=False)
    pods = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "pods", "-o", "json").stdout)["items"]
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in pods)


def test_two_replicas_one_active_the_standby_writes_nothing_and_takes_over_within_15_s_of_a_sigkill(
    cluster: Any, installed: str
) -> None:
    pods = ready_pods(cluster, NAMESPACE, f"app.kubernetes.io/instance={RELEASE}")
    assert len(pods) == 2
    leader = _holder(cluster)
    [standby] = [p["metadata"]["name"] for p in pods if p["metadata"]["name"] != leader]
    # Since both started (the chart's install), the standby wrote nothing; the leader did (statuses, lease renewals).
    since = min(datetime.fromisoformat(p["status"]["startTime"].replace("Z", "+00:00")).timestamp() for p in pods)
    assert leader is not None
    assert _writes_of_pod(leader, since), "no audited write of the leader: is the API server's audit log on?"
    assert _writes_of_pod(standby, since) == []

    os.kill(_host_pid(leader), signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: _holder(cluster) == standby, "the standby to take the lease", timeout=30, interval=0.1)
    took_over = time.monotonic() - killed
    print(f"\ntakeover on real nodes after SIGKILL: {took_over:.1f} s")
    assert took_over < 15
    # The new leader writes (it renews at least), and the killed one comes back as the standby.
    wait_for(lambda: _writes_of_pod(standby, time.time() - 5), "the new leader's writes", timeout=30)
    restarted = wait_for(
        lambda: [
            p
            for p in ready_pods(cluster, NAMESPACE, f"app.kubernetes.io/instance={RELEASE}")
            if p["metadata"]["name"] == leader and p["status"]["containerStatuses"][0]["restartCount"] == 1
        ],
        "the killed replica back, as the standby",
        timeout=120,
    )
    assert restarted
    assert _holder(cluster) == standby

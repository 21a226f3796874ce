"""The operator as a user installs it: `helm install charts/operator` with the image built here, by digest from the
local registry, running as the chart's ServiceAccount on a real node, probed and scraped for real, reconciling."""

import json
import uuid
from typing import Any

import yaml

from .conftest import NAMESPACE, RELEASE, ROOT, SLEEP, apply, deployment, ready_pods, wait_for


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
        logs = cluster.kubectl("-n", NAMESPACE, "logs", f"deployment/{RELEASE}", "--tail=50", check=False).stdout
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

        def scrape() -> str:
            pod = scraper["metadata"]["name"]
            result = cluster.kubectl("-n", namespace, "exec", pod, "--", "python3", "-c", fetch, check=False)
            assert result.returncode == 0, result.stderr[-600:]
            return str(result.stdout)

        scraped = wait_for(scrape, "a scrape of the operator's metrics Service", timeout=30, interval=2)
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

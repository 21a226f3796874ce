"""Watches that never freeze silently (kopf issues #957, #847, #1276): the API server is restarted under a running
operator, and every change made after it is back — a deleted child, a changed spec, a new platform — is acted on,
by the same operator process, within seconds."""

import json
import time
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import cluster as local_cluster

pytestmark = pytest.mark.cluster


def _config(cluster: Any, namespace: str, service: str) -> dict[str, str]:
    found = cluster.kubectl("get", "configmap", f"{service}-config", "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(found.stdout).get("data", {})) if found.returncode == 0 else {}


def test_after_an_api_server_restart_no_change_is_missed(
    cluster: Any, operator: Any, kit: Any, eventually: Any
) -> None:
    if cluster.kind != "local":
        pytest.fail("this test restarts the local control plane's API server; run it on the local cluster")
    platform = kit.sample_platform()
    name = platform["metadata"]["name"]
    teams = {service: team["namespace"] for team in platform["spec"]["teams"] for service in team["services"]}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=180)
    pid = operator.process.pid

    local_cluster.restart_apiserver(down_seconds=3)
    back = time.monotonic()

    # A child deleted behind the operator's back (its watch of the children), a spec changed (its watch of the
    # platforms) and a platform created (the same watch, a new object): each is acted on.
    cluster.kubectl("delete", "networkpolicy", "default-deny", "-n", teams["delivery"])
    patch = {"spec": {"services": {"delivery": {"config": [{"name": "ETA_REFRESH_SECONDS", "value": "20"}]}}}}
    cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", json.dumps(patch))
    second = kit.sample_platform()
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(second))

    eventually(
        lambda: (
            cluster.kubectl("get", "networkpolicy", "default-deny", "-n", teams["delivery"], check=False).returncode
            == 0
        ),
        what="the deleted NetworkPolicy restored",
        timeout=60,
    )
    restored = time.monotonic() - back
    eventually(
        lambda: _config(cluster, teams["delivery"], "delivery").get("ETA_REFRESH_SECONDS") == "20",
        what="the changed spec rendered",
        timeout=60,
    )
    rendered = time.monotonic() - back
    kit.wait_ready(cluster, f"deliveryplatform/{second['metadata']['name']}", timeout=180)
    created = time.monotonic() - back
    print(
        f"\nafter the API server restart: child restored {restored:.1f} s, spec {rendered:.1f} s, new platform Ready "
        f"{created:.1f} s"
    )
    assert operator.process.pid == pid
    assert operator.process.poll() is None
    assert restored < 60
    for platform_name in (name, second["metadata"]["name"]):
        cluster.kubectl("delete", "deliveryplatform", platform_name, "--wait=false")

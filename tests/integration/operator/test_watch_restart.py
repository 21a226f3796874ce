"""Watches that never freeze silently (kopf issues #957, #847, #1276): the API server is restarted under a running
operator, and every change made after it is back — a deleted child, a changed spec, a new platform — is acted on by
the same operator process. A child deleted before the watch of its kind reconnected sends no event at all (the
watch starts over from a fresh list): the periodic full read finds it gone (FABRIKAM_OPERATOR_FULL_RESYNC_SECONDS)."""

import json
import os
import signal
import time
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import cluster as local_cluster

pytestmark = pytest.mark.cluster


def _config(cluster: Any, namespace: str, service: str) -> dict[str, str]:
    found = cluster.kubectl("get", "configmap", f"{service}-config", "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(found.stdout).get("data", {})) if found.returncode == 0 else {}


FULL_RESYNC_SECONDS = 20


def test_after_an_api_server_restart_no_change_is_missed(
    cluster: Any, operator_factory: Any, kit: Any, eventually: Any
) -> None:
    operator = operator_factory({"FABRIKAM_OPERATOR_FULL_RESYNC_SECONDS": str(FULL_RESYNC_SECONDS)})
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
        timeout=FULL_RESYNC_SECONDS + 10 + 30,
    )
    restored = time.monotonic() - back
    eventually(
        lambda: _config(cluster, teams["delivery"], "delivery").get("ETA_REFRESH_SECONDS") == "20",
        what="the changed spec rendered",
        timeout=FULL_RESYNC_SECONDS + 10 + 30,
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
    # At worst the next full read, one idle resync (10 s here) after the full-read period.
    assert restored < FULL_RESYNC_SECONDS + 10 + 15
    for platform_name in (name, second["metadata"]["name"]):
        cluster.kubectl("delete", "deliveryplatform", platform_name, "--wait=false")


def test_a_child_deleted_while_the_watches_were_down_is_found_by_the_full_read(
    cluster: Any, operator_factory: Any, kit: Any, eventually: Any
) -> None:
    """The operator is frozen (SIGSTOP) across an API server restart and a deletion: its watches end, and when they
    start over from a fresh list the deleted child is simply absent, with no event; only a read finds it gone."""
    operator = operator_factory({"FABRIKAM_OPERATOR_FULL_RESYNC_SECONDS": str(FULL_RESYNC_SECONDS)})
    platform = kit.sample_platform()
    name = platform["metadata"]["name"]
    namespace = platform["spec"]["teams"][0]["namespace"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=180)

    os.kill(operator.process.pid, signal.SIGSTOP)
    try:
        local_cluster.restart_apiserver(down_seconds=1)
        cluster.kubectl("delete", "networkpolicy", "default-deny", "-n", namespace)
    finally:
        os.kill(operator.process.pid, signal.SIGCONT)
    resumed = time.monotonic()

    eventually(
        lambda: cluster.kubectl("get", "networkpolicy", "default-deny", "-n", namespace, check=False).returncode == 0,
        what="the child deleted while the operator's watches were down recreated",
        timeout=FULL_RESYNC_SECONDS + 10 + 30,
    )
    print(f"\nrecreated {time.monotonic() - resumed:.1f} s after the operator resumed")
    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false")

"""Pod networking on the real nodes: cluster DNS, Services across nodes, kubectl logs/exec/port-forward, and
NetworkPolicies enforced for real."""

import subprocess
import time
from typing import Any

import httpx

from .conftest import HOSTNAME_SERVER, SLEEP, apply, deployment, port_forward, ready_pods, service, wait_for

# Asks a URL `n` times with a short timeout; prints each answer or the error's class name, one a line.
FETCH = (
    "import sys, urllib.request\n"
    "for _ in range(int(sys.argv[2])):\n"
    "    try:\n"
    "        print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())\n"
    "    except Exception as error:\n"
    "        print(type(error).__name__)\n"
)


def _exec(cluster: Any, namespace: str, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("-n", namespace, "exec", pod, "--", *command, check=False)


def _client(cluster: Any, namespace: str, probe_image: str, name: str = "client", **labels: str) -> str:
    apply(cluster, deployment(name, namespace, probe_image, SLEEP, pod_labels=labels))
    pod = wait_for(lambda: ready_pods(cluster, namespace, f"app={name}"), f"{name} Ready", timeout=180)[0]
    return str(pod["metadata"]["name"])


def _web(cluster: Any, namespace: str, probe_image: str) -> list[dict[str, Any]]:
    apply(
        cluster,
        deployment(
            "web",
            namespace,
            probe_image,
            HOSTNAME_SERVER,
            replicas=2,
            container={
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
            },
        ),
        service("web", namespace, 8080),
    )

    def both() -> list[dict[str, Any]]:
        ready = ready_pods(cluster, namespace, "app=web")
        return ready if len(ready) == 2 else []

    return list(wait_for(both, "two web pods Ready", timeout=180))


def test_dns_and_a_service_reach_pods_on_both_nodes_and_logs_exec_port_forward_work(
    cluster: Any, namespace: str, real_nodes: list[str], probe_image: str
) -> None:
    web = _web(cluster, namespace, probe_image)
    assert sorted(p["spec"]["nodeName"] for p in web) == real_nodes[:2]
    client = _client(cluster, namespace, probe_image)

    resolved = _exec(
        cluster,
        namespace,
        client,
        "python3",
        "-c",
        f"import socket; print(socket.gethostbyname('web.{namespace}.svc.cluster.local'))",
    )
    cluster_ip = cluster.kubectl("-n", namespace, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
    assert resolved.stdout.strip() == cluster_ip, resolved.stderr
    short = _exec(cluster, namespace, client, "python3", "-c", "import socket; print(socket.gethostbyname('web'))")
    assert short.stdout.strip() == cluster_ip, short.stderr  # the pod's search path

    answers = _exec(cluster, namespace, client, "python3", "-c", FETCH, "http://web:8080/", "30").stdout.split()
    assert len(answers) == 30
    assert set(answers) == {p["metadata"]["name"] for p in web}, answers  # both pods, so both nodes, answered

    logs = cluster.kubectl("-n", namespace, "logs", web[0]["metadata"]["name"]).stdout
    assert '"GET / HTTP/1.1" 200' in logs
    assert (
        _exec(cluster, namespace, web[0]["metadata"]["name"], "cat", "/etc/hostname").stdout.strip()
        == (web[0]["metadata"]["name"])
    )

    with port_forward(cluster, namespace, "service/web", 8080) as url:
        answer = wait_for(lambda: httpx.get(f"{url}/", timeout=3).text, "port-forward answers", timeout=30)
    assert answer in {p["metadata"]["name"] for p in web}


def test_a_network_policy_denies_an_undeclared_connection_and_allows_a_declared_one(
    cluster: Any, namespace: str, real_nodes: list[str], probe_image: str
) -> None:
    _web(cluster, namespace, probe_image)
    allowed = _client(cluster, namespace, probe_image, "allowed", role="frontend")
    other = _client(cluster, namespace, probe_image, "other", role="stranger")

    def fetch(pod: str) -> list[str]:
        return _exec(cluster, namespace, pod, "python3", "-c", FETCH, "http://web:8080/", "4").stdout.split()

    assert all(a.startswith("web-") for a in fetch(other))  # open before any policy
    apply(
        cluster,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web-from-frontend", "namespace": namespace},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                        "ports": [{"port": 8080, "protocol": "TCP"}],
                    }
                ],
            },
        },
    )
    # The enforcer learns of the policy through its watch; give it a moment, then hold it to the result.
    wait_for(lambda: all(not a.startswith("web-") for a in fetch(other)), "the stranger shut out", timeout=30)
    time.sleep(1)
    denied = fetch(other)
    assert len(denied) == 4, denied
    assert all(a in ("TimeoutError", "URLError", "timeout") for a in denied), denied
    granted = fetch(allowed)
    assert len(granted) == 4, granted
    assert all(a.startswith("web-") for a in granted), granted

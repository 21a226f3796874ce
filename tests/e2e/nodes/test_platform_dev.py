"""The promise, for real: the operator installed by its chart applies `config/samples/platform-dev.yaml`, and the
eight services run as pods on the real nodes, wired to the in-cluster stores the operator runs, and deliver."""

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from fabrikam.devcluster import platform_install, pod_faults, prometheus_stack
from fabrikam.devcluster.localstack import seed_fleet
from fabrikam.devcluster.platform_install import dev_platform_document
from fabrikam.operator.render import backing, slo
from fabrikam.workloads.notification.handlers import PHRASES
from fabrikam.workloads.simulator.engine import FleetSimulator, SimulatorConfig

from .conftest import (
    ON_REAL_NODES,
    RESTRICTED_POD,
    ROOT,
    SLEEP,
    apply,
    deployment,
    pods,
    port_forward,
    ready_pods,
    wait_for,
)
from .conftest import service as service_of

PLATFORM = "fabrikam-dev"
BACKING = "fabrikam-backing"
SHIPPING, CUSTOMER = "fabrikam-shipping", "fabrikam-customer"
NAMESPACES = {
    "ingestion": SHIPPING,
    "workflow": SHIPPING,
    "delivery": SHIPPING,
    "drone-scheduler": SHIPPING,
    "package": CUSTOMER,
    "notification": CUSTOMER,
    "account": CUSTOMER,
    "drone-telemetry": CUSTOMER,
}
DELIVERIES = 200
STORES = "app.kubernetes.io/component=backing"


@pytest.fixture(scope="module")
def platform(cluster: Any, installed: str) -> Iterator[dict[str, Any]]:
    document = dev_platform_document()  # built before the clock starts: a warm start measures the platform
    started = time.monotonic()
    apply(cluster, document)
    try:
        waited = cluster.kubectl(
            "wait", "--for=condition=Ready", f"deliveryplatform/{PLATFORM}", "--timeout=300s", check=False
        )
        seconds = time.monotonic() - started
        if waited.returncode != 0:
            shown = cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
            status = cluster.kubectl("get", "deliveryplatform", PLATFORM, "-o", "yaml", check=False).stdout
            pytest.fail(f"platform not Ready: {waited.stderr}\n{status}\n{shown}")
        print(f"platform-dev.yaml: 8/8 services Ready on real pods {seconds:.0f}s after kubectl apply")
        yield {"document": document, "ready_seconds": seconds}
    finally:
        cluster.kubectl("delete", "deliveryplatform", PLATFORM, "--wait=true", "--timeout=180s", check=False)


def _json(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def test_every_service_runs_at_least_two_ready_pods_on_real_nodes_wired_to_the_stores(
    cluster: Any, platform: dict[str, Any], real_nodes: list[str]
) -> None:
    status = _json(cluster, "get", "deliveryplatform", PLATFORM)["status"]
    assert status["servicesReady"] == "8/8"
    assert status["backing"] == f"in-cluster ({BACKING})"
    shown = cluster.kubectl("get", "deliveryplatform", PLATFORM).stdout
    assert f"in-cluster ({BACKING})" in shown
    assert "8/8" in shown

    workloads = platform["document"]["spec"]["image"]
    for name, namespace in NAMESPACES.items():
        pods = ready_pods(cluster, namespace, f"app.kubernetes.io/name={name}")
        assert len(pods) >= 2, (name, len(pods))
        for pod in pods:
            assert pod["spec"]["nodeName"] in real_nodes, (name, pod["spec"]["nodeName"])
            (container,) = pod["status"]["containerStatuses"]
            assert container["ready"] is True  # its readiness probe (/readyz: its stores answer) passed
            assert container["imageID"].endswith(workloads["digest"])
        service = _json(cluster, "-n", namespace, "get", "droneservice", name)
        conditions = {c["type"]: c for c in service["status"]["conditions"]}
        assert conditions["Degraded"]["status"] == "False", (name, conditions["Degraded"])

    for store in ("redis", "mongo", "postgres"):
        (pod,) = ready_pods(cluster, BACKING, f"app.kubernetes.io/name={store}")
        assert pod["spec"]["nodeName"] in real_nodes
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        claim = _json(cluster, "-n", BACKING, "get", "pvc", f"data-{store}-0")
        assert claim["status"]["phase"] == "Bound"
        assert claim["spec"]["storageClassName"] == "local-path"


def _mail_subjects(cluster: Any) -> list[str]:
    (pod,) = ready_pods(cluster, BACKING, "app.kubernetes.io/name=mail-sink")
    read = (
        "import json, mailbox\n"
        "print(json.dumps([' '.join(str(m['Subject']).split()) for m in mailbox.Maildir('/var/mail/sink', "
        "create=False)]))"
    )
    result = cluster.kubectl("-n", BACKING, "exec", pod["metadata"]["name"], "--", "python3", "-c", read)
    subjects: list[str] = json.loads(result.stdout)
    return subjects


async def _get(url: str) -> Any:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()


def test_200_deliveries_complete_one_per_drone_at_a_time_and_their_notifications_arrive(
    cluster: Any, platform: dict[str, Any]
) -> None:
    with platform_install.service_urls(cluster.kubeconfig) as urls:
        config = SimulatorConfig(drones=DELIVERIES, requests_per_second=40, speed_up=10.0, register_fleet=True)
        simulator = FleetSimulator(urls, config)
        started = time.monotonic()
        # 5 s of requests at 40/s; the 120 s window only matters on a machine too busy to keep that rate.
        snapshot = asyncio.run(simulator.run(seconds=120, requests=DELIVERIES, drain_seconds=240))
        print(f"{DELIVERIES} deliveries requested and flown through the pods in {time.monotonic() - started:.0f}s")
        assert len(snapshot.requested) == DELIVERIES
        assert set(snapshot.arrived) == set(snapshot.requested), snapshot.refused

        async def views() -> list[dict[str, Any]]:
            return [await _get(f"{urls['delivery']}/v1/deliveries/{d}") for d in snapshot.requested]

        delivered = asyncio.run(views())
    assert Counter(view["stage"] for view in delivered) == {"completed": DELIVERIES}
    # A drone carries one delivery at a time: per drone, a delivery is scheduled only after the previous landed.
    flights: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for view in delivered:
        flights[view["droneId"]].append((datetime.fromisoformat(view["scheduledAt"]), snapshot.arrived[view["id"]]))
    overlapping = [
        (drone, first, second)
        for drone, spans in flights.items()
        for first, second in itertools.pairwise(sorted(spans))
        if second[0] < first[1] - timedelta(seconds=0.5)
    ]
    assert overlapping == []
    print(f"{DELIVERIES} deliveries flown by {len(flights)} distinct drones, none carrying two at once")

    expected = {f"Delivery {d}: {PHRASES['completed']}" for d in snapshot.requested}
    subjects = wait_for(
        lambda: (found := _mail_subjects(cluster)) and expected <= set(found) and found,
        f"{len(expected)} 'completed' e-mails at the SMTP sink",
        timeout=120,
        interval=3,
    )
    assert [subject for subject, count in Counter(subjects).items() if count > 1] == []


def test_package_data_survives_restarts_of_its_pods_and_of_the_store(cluster: Any, platform: dict[str, Any]) -> None:
    with port_forward(cluster, SHIPPING, "svc/ingestion", 80) as ingestion:
        body = {
            "owner": "survivor",
            "pickup": {"latitude": 47.606, "longitude": -122.332, "address": "1 Pike St"},
            "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
            "pickupTime": "2030-01-01T10:00:00Z",
            "deadline": "2030-01-01T12:00:00Z",
            "package": {"size": "small", "weightKg": 1.0, "tag": "survivor"},
        }
        accepted = httpx.post(f"{ingestion}/v1/deliveryrequests", json=body, timeout=30)
        assert accepted.status_code == 202, accepted.text
        delivery_id = accepted.json()["deliveryId"]

    def package() -> dict[str, Any] | None:
        with port_forward(cluster, CUSTOMER, "svc/package", 80) as url:
            found = httpx.get(f"{url}/v1/packages/package-{delivery_id}", timeout=10)
            return found.json() if found.status_code == 200 else None

    before = wait_for(package, "the delivery's package", timeout=60, interval=2)
    cluster.kubectl("-n", BACKING, "delete", "pod", "mongo-0", "--wait=true")
    cluster.kubectl("-n", CUSTOMER, "delete", "pods", "-l", "app.kubernetes.io/name=package", "--wait=true")
    wait_for(lambda: ready_pods(cluster, BACKING, "app.kubernetes.io/name=mongo"), "mongo back", timeout=120)
    wait_for(
        lambda: len(ready_pods(cluster, CUSTOMER, "app.kubernetes.io/name=package")) >= 2, "package back", timeout=120
    )
    after = wait_for(package, "the package after the restarts", timeout=60, interval=2)
    assert after == before


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (
            lambda spec: spec["backing"]["inCluster"].update(namespace=SHIPPING),
            "spec.backing.inCluster.namespace must not be a team's namespace",
        ),
        (
            lambda spec: spec["nodePlacement"]["nodeSelector"].update({"not a key": "x"}),
            "spec.nodePlacement.nodeSelector: keys must be label keys",
        ),
    ],
)
def test_the_apiserver_refuses_what_cannot_work(cluster: Any, installed: str, change: Any, refusal: str) -> None:
    document = yaml.safe_load((ROOT / "config" / "samples" / "platform-dev.yaml").read_text())
    document["metadata"]["name"] = "refused"
    change(document["spec"])
    refused = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(document), check=False)
    assert refused.returncode != 0
    assert refusal in refused.stderr


def test_account_data_and_its_tokens_survive_restarts_of_its_pods_and_of_postgres(
    cluster: Any, platform: dict[str, Any]
) -> None:
    """Two account replicas share one database, one PII key and one signing key (the generated Secret)."""
    profile = {"name": "Contoso", "contactEmail": "ops@contoso.example", "phone": "+14255550100", "address": "1 Main"}
    with port_forward(cluster, CUSTOMER, "svc/account", 80) as url:
        registered = httpx.post(f"{url}/v1/businesses", json=profile, timeout=30)
        assert registered.status_code == 201, registered.text
        business, credentials = registered.json()["business"], registered.json()["credentials"]
        form = {
            "grant_type": "client_credentials",
            "client_id": credentials["clientId"],
            "client_secret": credentials["clientSecret"],
        }
        issued = httpx.post(f"{url}/oauth2/token", data=form, timeout=30)
        assert issued.status_code == 200, issued.text
        headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        before = httpx.get(f"{url}/v1/businesses/{business['id']}", headers=headers, timeout=30)
        assert before.status_code == 200, before.text

    cluster.kubectl("-n", BACKING, "delete", "pod", "postgres-0", "--wait=true")
    cluster.kubectl("-n", CUSTOMER, "delete", "pods", "-l", "app.kubernetes.io/name=account", "--wait=true")
    wait_for(lambda: ready_pods(cluster, BACKING, "app.kubernetes.io/name=postgres"), "postgres back", timeout=120)
    wait_for(
        lambda: len(ready_pods(cluster, CUSTOMER, "app.kubernetes.io/name=account")) >= 2, "account back", timeout=180
    )
    with port_forward(cluster, CUSTOMER, "svc/account", 80) as url:
        after = httpx.get(f"{url}/v1/businesses/{business['id']}", headers=headers, timeout=30)
    assert after.status_code == 200, after.text  # the old token still verifies: same signing key
    assert after.json() == before.json()


PROBE = (
    "import json, socket, sys\n"
    "def reach(host, port):\n"
    "    try:\n"
    "        socket.create_connection((host, port), timeout=3).close()\n"
    "        return True\n"
    "    except OSError:\n"
    "        return False\n"
    "print(json.dumps({f'{h}:{p}': reach(h, p) for h, p in json.loads(sys.argv[1])}))\n"
)
TARGETS = [
    (f"package.{CUSTOMER}.svc.cluster.local", 80),
    (f"account.{CUSTOMER}.svc.cluster.local", 80),
    (f"mongo.{BACKING}.svc.cluster.local", 27017),
    (f"postgres.{BACKING}.svc.cluster.local", 5432),
    (f"redis.{BACKING}.svc.cluster.local", 6379),
]


def _probe(cluster: Any, namespace: str, image: str, labels: dict[str, str], targets: list[Any]) -> dict[str, bool]:
    apply(cluster, deployment("probe", namespace, image, SLEEP, pod_labels=labels, **RESTRICTED_POD))
    (pod,) = wait_for(lambda: ready_pods(cluster, namespace, "app=probe"), f"the probe in {namespace}", timeout=120)
    ran = cluster.kubectl(
        "-n", namespace, "exec", pod["metadata"]["name"], "--", "python3", "-c", PROBE, json.dumps(targets)
    )
    found: dict[str, bool] = json.loads(ran.stdout)
    return found


def test_network_policies_let_only_the_declared_callers_in(
    cluster: Any, platform: dict[str, Any], namespace: str, probe_image: str
) -> None:
    """From a namespace outside the platform, even labelled as a store's client, nothing of the platform answers;
    the cluster DNS does (the probe itself has a network). Inside, the deliveries above prove the allowed paths."""
    client_labels = {f"backing.dronedelivery.fabrikam.io/{store}": "true" for store in ("mongo", "postgres", "redis")}
    outside = _probe(cluster, namespace, probe_image, client_labels, [*TARGETS, ("10.96.0.10", 53)])
    assert outside.pop("10.96.0.10:53") is True
    assert outside == dict.fromkeys(outside, False), outside
    cluster.kubectl("-n", namespace, "delete", "deployment", "probe", "--wait=false")
    # Another team's namespace: default-deny lets its pods out to DNS only.
    inside = _probe(cluster, SHIPPING, probe_image, {"app.kubernetes.io/name": "probe"}, TARGETS[:2])
    cluster.kubectl("-n", SHIPPING, "delete", "deployment", "probe", "--wait=false")
    assert inside == dict.fromkeys(inside, False), inside


# A team's own service for the tenancy test: answers 200 on every path (its probes included) on port 8080.
ANSWER = (
    "import http.server\n"
    "class Answer(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'reports')\n"
    "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), Answer).serve_forever()\n"
)
CALL = (
    "import sys, urllib.request\n"
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())\n"
    "except OSError as error:\n"
    "    print('refused', error)\n"
)


def _team_service(name: str, namespace: str, image: str, **spec: Any) -> dict[str, Any]:
    repository, digest = image.split("@")
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "platformRef": {"name": PLATFORM},
            "image": {"repository": repository, "digest": digest},
            "command": ["python3", "-c", ANSWER],
            "identity": {"azure": False},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 2},
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
            **spec,
        },
    }


def _condition(cluster: Any, namespace: str, name: str, kind: str) -> dict[str, Any]:
    status = _json(cluster, "-n", namespace, "get", "droneservice", name).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def test_a_call_nobody_accepted_stays_closed_until_the_callee_accepts(
    cluster: Any, platform: dict[str, Any], probe_image: str
) -> None:
    """Shipping's service declares a call to customer's `reports`: its pods cannot connect, and it is Degraded
    naming the missing consent. Once reports accepts the shipping team, the same pod connects at once."""
    url = f"http://reports.{CUSTOMER}.svc.cluster.local/"
    reports = _team_service("reports", CUSTOMER, probe_image)
    caller = _team_service("reports-client", SHIPPING, probe_image, calls=[{"name": "reports", "namespace": CUSTOMER}])
    apply(cluster, reports, caller)
    try:
        wait_for(
            lambda: _condition(cluster, SHIPPING, "reports-client", "Degraded").get("reason") == "CallNotAccepted",
            "the caller Degraded with CallNotAccepted",
            timeout=60,
        )
        message = _condition(cluster, SHIPPING, "reports-client", "Degraded")["message"]
        assert "fabrikam-customer/reports does not accept calls from fabrikam-shipping/reports-client" in message
        (pod,) = wait_for(
            lambda: ready_pods(cluster, SHIPPING, "app.kubernetes.io/name=reports-client")[:1],
            "a Ready pod of the caller",
            timeout=120,
        )
        wait_for(lambda: ready_pods(cluster, CUSTOMER, "app.kubernetes.io/name=reports"), "reports Ready", timeout=120)

        def call() -> str:
            ran = cluster.kubectl("-n", SHIPPING, "exec", pod["metadata"]["name"], "--", "python3", "-c", CALL, url)
            return str(ran.stdout).strip()

        assert call().startswith("refused"), "an unaccepted call went through"
        accepted = time.monotonic()
        consent = {"spec": {"allowedCallers": [{"team": "shipping"}]}}
        cluster.kubectl("-n", CUSTOMER, "patch", "droneservice", "reports", "--type=merge", "-p", json.dumps(consent))
        wait_for(lambda: call() == "reports", "the call to go through once accepted", timeout=60)
        print(f"call accepted: the caller's pod reached reports {time.monotonic() - accepted:.1f}s after the consent")
        wait_for(
            lambda: _condition(cluster, SHIPPING, "reports-client", "Degraded").get("status") == "False",
            "the caller no longer Degraded",
            timeout=30,
        )
    finally:
        cluster.kubectl("-n", SHIPPING, "delete", "droneservice", "reports-client", "--wait=false", check=False)
        cluster.kubectl("-n", CUSTOMER, "delete", "droneservice", "reports", "--wait=false", check=False)


# Speaks RESP over a socket (the probe image has no Redis client): signs in as the pod's ACL user with the password
# file the operator mounted, then tries its own prefix and the platform's keys. Prints each reply's first line.
REDIS_AS_POD = (
    "import json, os, socket, urllib.parse\n"
    "url = urllib.parse.urlsplit(os.environ['FABRIKAM_REDIS_URL'])\n"
    "password = open(os.environ['FABRIKAM_REDIS_PASSWORD_FILE']).read().strip()\n"
    "prefix = os.environ['FABRIKAM_REDIS_KEY_PREFIX']\n"
    "conn = socket.create_connection((url.hostname, url.port), timeout=5)\n"
    "replies = conn.makefile('rb')\n"
    "def run(*args):\n"
    "    parts = [b'*%d\\r\\n' % len(args)] + [b'$%d\\r\\n%s\\r\\n' % (len(a.encode()), a.encode()) for a in args]\n"
    "    conn.sendall(b''.join(parts))\n"
    "    line = replies.readline().decode().strip()\n"
    "    return replies.readline().decode().strip() if line.startswith('$') and line != '$-1' else line\n"
    "out = {'auth': run('AUTH', url.username, password)}\n"
    "out |= {'own': run('SET', prefix + 'report', 'ok'), 'read-own': run('GET', prefix + 'report')}\n"
    "out |= {'platform': run('GET', 'delivery:any'), 'keys': run('KEYS', '*'), 'flush': run('FLUSHALL')}\n"
    "print(json.dumps(out))\n"
)


def test_a_team_service_reaches_only_its_own_redis_keys(
    cluster: Any, platform: dict[str, Any], probe_image: str
) -> None:
    """Shipping's service that uses Redis signs in as its own ACL user from its pod: its own prefix works, the
    platform's keys and every listing or admin command are refused by Redis itself."""
    service = _team_service("reports-cache", SHIPPING, probe_image, uses=[{"kind": "redis", "name": "reports"}])
    created = time.monotonic()
    apply(cluster, service)
    try:
        (pod,) = wait_for(
            lambda: ready_pods(cluster, SHIPPING, "app.kubernetes.io/name=reports-cache")[:1],
            "a Ready pod of the team's service",
            timeout=120,
        )

        def attempt() -> dict[str, str]:
            ran = cluster.kubectl("-n", SHIPPING, "exec", pod["metadata"]["name"], "--", "python3", "-c", REDIS_AS_POD)
            found: dict[str, str] = json.loads(ran.stdout)
            return found

        # The user reaches Redis within the kubelet's ConfigMap refresh (30 s on these nodes) and the sidecar's 2 s.
        replies = wait_for(lambda: (r := attempt())["auth"] == "+OK" and r, "the service's Redis user", timeout=120)
        print(f"team service's Redis user usable {time.monotonic() - created:.0f}s after its DroneService")
        assert replies["own"] == "+OK"
        assert replies["read-own"] == "ok"
        for refused in ("platform", "keys", "flush"):
            assert replies[refused].startswith("-NOPERM"), replies
    finally:
        cluster.kubectl("-n", SHIPPING, "delete", "droneservice", "reports-cache", "--wait=false", check=False)


def test_a_root_pod_is_refused_and_a_hand_edited_deployment_is_reverted(cluster: Any, platform: dict[str, Any]) -> None:
    image = platform["document"]["spec"]["image"]
    root = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "as-root", "namespace": SHIPPING},
        "spec": {
            "securityContext": {"runAsUser": 0},
            "containers": [{"name": "app", "image": f"{image['repository']}@{image['digest']}"}],
        },
    }
    refused = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(root), check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr

    patch = [
        {"op": "replace", "path": "/spec/template/spec/securityContext/runAsNonRoot", "value": False},
        {"op": "replace", "path": "/spec/template/spec/securityContext/runAsUser", "value": 0},
    ]
    cluster.kubectl("-n", SHIPPING, "patch", "deployment", "ingestion", "--type=json", "-p", json.dumps(patch))

    def reverted() -> bool:
        pod = _json(cluster, "-n", SHIPPING, "get", "deployment", "ingestion")["spec"]["template"]["spec"]
        return pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001

    wait_for(reverted, "the operator reverting the hand edit", timeout=30)
    wait_for(
        lambda: (
            len(ready_pods(cluster, SHIPPING, "app.kubernetes.io/name=ingestion")) >= 2
            and all(
                p["spec"]["securityContext"]["runAsUser"] == 10001
                for p in ready_pods(cluster, SHIPPING, "app.kubernetes.io/name=ingestion")
            )
        ),
        "ingestion running as 10001 again",
        timeout=120,
    )


# Posts deliveries from inside the cluster (a port-forward follows one pod, and dies with it), retrying each one
# with the same Idempotency-Key until it is accepted, `pause` seconds apart; prints a line per acceptance, then the
# accepted ids. Arguments: url count prefix pause.
LOAD = """
import json, sys, time, urllib.error, urllib.request
url, count, prefix, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
accepted = []
for index in range(count):
    body = json.dumps({
        "owner": "burst", "pickupTime": "2030-01-01T10:00:00Z", "deadline": "2030-01-01T12:00:00Z",
        "pickup": {"latitude": 47.606 + (index % 10) * 0.001, "longitude": -122.332, "address": f"{index} Pike"},
        "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
        "package": {"size": "small", "weightKg": 1.0, "tag": f"{prefix}-{index}"},
    }).encode()
    while True:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": f"{prefix}-{index}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                accepted.append(json.loads(response.read())["deliveryId"])
                print("accepted", len(accepted), flush=True)
                time.sleep(pause)
                break
        except (urllib.error.URLError, OSError) as error:
            print("retrying", index, error, flush=True)
            time.sleep(0.2)
print("ids", json.dumps(accepted), flush=True)
"""


def _burst(
    cluster: Any,
    platform: dict[str, Any],
    probe_image: str,
    count: int,
    *,
    prefix: str,
    disrupt: Callable[[], None],
    fleet: int,
    pause: float = 0.0,
    node: str | None = None,
) -> list[str]:
    """Posts `count` deliveries from a pod in the ingress controller's namespace (on `node` if given), calls
    `disrupt` once 30 are accepted, and returns the accepted ids once all are. `fleet`: the number of the first of
    the burst's own drones (the drones of an earlier burst are still busy: nothing flies them home)."""
    with port_forward(cluster, SHIPPING, "svc/drone-scheduler", 80) as scheduler:
        seed_fleet(scheduler, count + 20, first=fleet)
    # The ingress controller's namespace is let in to ingestion (it is exposed); the load stands in for it.
    controller = platform["document"]["spec"]["ingress"]["controllerNamespace"]
    cluster.kubectl("create", "namespace", controller, check=False)
    url = f"http://ingestion.{SHIPPING}.svc.cluster.local/v1/deliveryrequests"
    placement: dict[str, Any] = {"nodeSelector": {"kubernetes.io/hostname": node}} if node else {}
    load = deployment(
        f"load-{prefix}",
        controller,
        probe_image,
        ["python3", "-c", LOAD, url, str(count), prefix, str(pause)],
        **placement,
    )
    load["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    apply(cluster, load)
    try:
        (pod,) = wait_for(lambda: pods(cluster, controller, f"app=load-{prefix}"), "the load pod", timeout=120)
        name = pod["metadata"]["name"]

        def logs() -> str:
            return str(cluster.kubectl("-n", controller, "logs", name, check=False).stdout)

        wait_for(lambda: logs().count("accepted ") >= 30, "30 deliveries accepted", timeout=120)
        disrupt()
        finished = wait_for(lambda: (text := logs()) and "ids " in text and text, "the burst to finish", timeout=300)
        ids: list[str] = json.loads(finished.split("ids ", 1)[1].splitlines()[0])
        assert logs().count("accepted ") == count
    finally:
        cluster.kubectl("-n", controller, "delete", "deployment", f"load-{prefix}", "--wait=false")
    assert len(ids) == len(set(ids)) == count
    return ids


def _assert_each_scheduled_exactly_once(cluster: Any, ids: list[str]) -> None:
    def settled() -> list[dict[str, Any]] | None:
        with port_forward(cluster, SHIPPING, "svc/workflow", 80) as workflow:
            views = [httpx.get(f"{workflow}/v1/workflows/{d}", timeout=30) for d in ids]
        found = [view.json() for view in views if view.status_code == 200]
        return found if len(found) == len(ids) and all(v["stage"] == "scheduled" for v in found) else None

    views = wait_for(settled, f"all {len(ids)} deliveries scheduled", timeout=240, interval=5)
    assert len({view["droneId"] for view in views}) == len(ids)
    with port_forward(cluster, SHIPPING, "svc/delivery", 80) as delivery:
        scheduled = [
            sum(
                1
                for e in httpx.get(f"{delivery}/v1/deliveries/{d}/events", timeout=30).json()
                if e["kind"] == "scheduled"
            )
            for d in ids
        ]
    assert set(scheduled) == {1}  # each delivery scheduled exactly once, none lost, none twice


def test_killing_an_ingestion_pod_and_a_workflow_pod_during_a_burst_loses_and_duplicates_nothing(
    cluster: Any, platform: dict[str, Any], probe_image: str
) -> None:
    def kill() -> None:
        for service in ("ingestion", "workflow"):
            victim = ready_pods(cluster, SHIPPING, f"app.kubernetes.io/name={service}")[0]["metadata"]["name"]
            cluster.kubectl("-n", SHIPPING, "delete", "pod", victim, "--grace-period=0", "--force")

    ids = _burst(cluster, platform, probe_image, 150, prefix="burst", disrupt=kill, fleet=1000)
    _assert_each_scheduled_exactly_once(cluster, ids)


# Deliveries posted to one ingestion pod for as long as the test asks, the statuses counted.
class _Traffic:
    def __init__(self, url: str) -> None:
        self.url, self.statuses, self._stop = url, Counter[int](), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for index in itertools.count():
                if self._stop.is_set():
                    return
                body = {
                    "owner": "slo", "pickupTime": "2030-01-01T10:00:00Z", "deadline": "2030-01-01T12:00:00Z",
                    "pickup": {"latitude": 47.606, "longitude": -122.332, "address": f"{index} Pike"},
                    "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
                    "package": {"size": "small", "weightKg": 1.0, "tag": f"slo-{index}"},
                }  # fmt: skip
                try:
                    response = client.post(f"{self.url}/v1/deliveryrequests", json=body)
                    self.statuses[response.status_code] += 1
                except httpx.HTTPError:
                    self.statuses[0] += 1
                time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _prometheus(url: str, path: str, **params: str) -> Any:
    response = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def _ingestion_alerts(url: str) -> dict[str, dict[str, Any]]:
    """Ingestion's SLO alerts as Prometheus holds them (pending or firing), by name."""
    return {
        alert["labels"]["alertname"]: alert
        for alert in _prometheus(url, "alerts")["alerts"]
        if alert["labels"].get("namespace") == SHIPPING and alert["labels"].get("service") == "ingestion"
    }


@contextlib.contextmanager
def _prometheus_on_the_real_nodes(cluster: Any) -> Iterator[str]:
    """The Prometheus Operator and a Prometheus selecting every PodMonitor and PrometheusRule; yields the
    Prometheus' URL. The CRDs stay (other tests' operators may watch them)."""
    source = prometheus_stack.release()
    built = prometheus_stack.build_images()
    for crd in source.crds:
        cluster.kubectl("apply", "--server-side", "-f", str(crd))

    def established() -> bool:
        crds = _json(cluster, "get", "crd")["items"]
        return all(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in crd.get("status", {}).get("conditions", [])
            )
            for crd in crds
        )

    wait_for(established, "the Prometheus Operator's CRDs established", timeout=60)
    apply(cluster, *prometheus_stack.stack(source, built, ON_REAL_NODES))
    try:
        (pod,) = wait_for(
            lambda: ready_pods(cluster, prometheus_stack.NAMESPACE, f"prometheus={prometheus_stack.PROMETHEUS}"),
            "the Prometheus pod the Prometheus Operator runs",
            timeout=300,
        )
        with port_forward(cluster, prometheus_stack.NAMESPACE, f"pod/{pod['metadata']['name']}", 9090) as url:
            yield url
    finally:
        undo = {"spec": {"observability": {"metrics": {"scraperNamespace": None}}}}
        cluster.kubectl("patch", "deliveryplatform", PLATFORM, "--type=merge", "-p", json.dumps(undo), check=False)
        cluster.kubectl("delete", "namespace", prometheus_stack.NAMESPACE, "--wait=true", "--timeout=120s", check=False)
        cluster.kubectl("delete", "clusterrole,clusterrolebinding", "prometheus", "prometheus-operator", check=False)


def test_a_prometheus_scrapes_every_service_and_pages_when_ingestion_loses_redis(
    cluster: Any, platform: dict[str, Any]
) -> None:
    """The monitoring the operator renders, read by the real tools: the Prometheus Operator turns the PodMonitors
    and PrometheusRules into a Prometheus' scrape jobs and rules; every service's pods are scraped through the
    NetworkPolicies; with deliveries flowing nothing pages; when ingestion's pods are cut off from Redis the
    availability SLO's fast-burn alert goes pending, then fires (after its `for: 2m`), with its runbook, and the
    not-ready alert follows once the pods' readiness probes have all failed."""
    with _prometheus_on_the_real_nodes(cluster) as prometheus:
        # The chart's operator re-reads discovery every 60 s: it then renders the PodMonitors and PrometheusRules.
        def scraped(health: str) -> dict[str, list[str]] | None:
            found: dict[str, list[str]] = defaultdict(list)
            for target in _prometheus(prometheus, "targets", state="active")["activeTargets"]:
                found[target["scrapePool"]].append(target["health"])
            pools = {f"podMonitor/{namespace}/{name}/0" for name, namespace in NAMESPACES.items()}
            complete = pools <= set(found) and all(len(found[p]) >= 2 and set(found[p]) == {health} for p in pools)
            return dict(found) if complete else None

        # The team namespaces' NetworkPolicies refuse the scraper until the platform names its namespace.
        started = time.monotonic()
        refused = wait_for(lambda: scraped("down"), "every service's pods found, their scrapes refused", timeout=300)
        found = sum(map(len, refused.values()))
        print(f"Prometheus finds {found} pods of 8 services {time.monotonic() - started:.0f}s after the CRDs; "
              "the NetworkPolicies refuse its scrapes")  # fmt: skip
        scraper = {"spec": {"observability": {"metrics": {"scraperNamespace": prometheus_stack.NAMESPACE}}}}
        cluster.kubectl("patch", "deliveryplatform", PLATFORM, "--type=merge", "-p", json.dumps(scraper))
        named = time.monotonic()
        wait_for(lambda: scraped("up"), "every service's pods scraped and up", timeout=120, interval=5)
        print(f"all up {time.monotonic() - named:.0f}s after the platform names the scraper's namespace")
        groups = _prometheus(prometheus, "rules", type="alert")["groups"]
        alerts = {
            rule["name"] for group in groups if group["name"] == f"{SHIPPING}.ingestion.slo" for rule in group["rules"]
        }
        assert {"FabrikamAvailabilityFastBurn", "FabrikamAvailabilitySlowBurn", "FabrikamServiceNotReady"} <= alerts

        ingestion = ready_pods(cluster, SHIPPING, "app.kubernetes.io/name=ingestion")
        (port,) = (p["containerPort"] for p in ingestion[0]["spec"]["containers"][0]["ports"] if p["name"] == "http")
        with port_forward(cluster, SHIPPING, f"pod/{ingestion[0]['metadata']['name']}", port) as url:
            traffic = _Traffic(url)
            try:
                ratio = f'{slo.recorded("5m")}{{namespace="{SHIPPING}",service="ingestion",slo="availability"}}'
                wait_for(
                    lambda: (
                        (found := _prometheus(prometheus, "query", query=ratio)["result"])
                        and float(found[0]["value"][1]) == 0.0
                    ),
                    "ingestion's recorded 5m error ratio, 0 while deliveries are accepted",
                    timeout=180,
                    interval=5,
                )
                assert traffic.statuses[202] > 0
                assert set(traffic.statuses) == {202}, traffic.statuses
                assert _ingestion_alerts(prometheus) == {}
                healthy = sum(traffic.statuses.values())

                cut_at = time.monotonic()
                with pod_faults.refused((pod["metadata"]["uid"] for pod in ingestion), backing.PORTS[backing.REDIS]):
                    wait_for(
                        lambda: (a := _ingestion_alerts(prometheus).get("FabrikamAvailabilityFastBurn")) and a,
                        "the fast-burn availability alert",
                        timeout=120,
                        interval=2,
                    )
                    pending_after = time.monotonic() - cut_at
                    firing = wait_for(
                        lambda: (
                            (a := _ingestion_alerts(prometheus).get("FabrikamAvailabilityFastBurn"))
                            and a["state"] == "firing"
                            and a
                        ),
                        "the fast-burn availability alert firing",
                        timeout=240,
                        interval=5,
                    )
                    firing_after = time.monotonic() - cut_at
                    # Unready, the pods leave the Service: the page that does not need requests to reach them.
                    unready = wait_for(
                        lambda: _ingestion_alerts(prometheus).get("FabrikamServiceNotReady"),
                        "the not-ready alert (pending: its `for: 2m` is promtool's to test)",
                        timeout=180,
                        interval=5,
                    )
                    unready_after = time.monotonic() - cut_at
                    failed = sum(traffic.statuses.values()) - healthy
            finally:
                traffic.stop()
        print(
            f"ingestion cut off from Redis: {failed} requests answered {dict(traffic.statuses)}; fast-burn alert "
            f"pending after {pending_after:.0f}s, firing after {firing_after:.0f}s; not-ready alert "
            f"{unready['state']} after {unready_after:.0f}s"
        )
        assert traffic.statuses[503] > 0
        labels, annotations = firing["labels"], firing["annotations"]
        assert labels["severity"] == "critical", labels
        assert labels["slo"] == "availability", labels
        assert annotations["runbook_url"].split("#")[0].endswith("docs/runbooks/service-availability.md"), annotations
        assert firing_after >= 120  # the rule's `for: 2m`: no page for a blip

    # Redis reachable again: ingestion's pods are Ready again, by themselves.
    wait_for(lambda: len(ready_pods(cluster, SHIPPING, "app.kubernetes.io/name=ingestion")) >= 2, "ingestion Ready")


# An OTLP/HTTP collector in a line of Python on the workloads image (which has the OTLP protobufs): per trace id the
# services that sent spans of it, and the services that pushed metrics; GET / answers them as JSON.
OTLP_RECEIVER = """
import collections, gzip, http.server, json
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
traces, metrics = collections.defaultdict(set), set()
def service(resource):
    return next((a.value.string_value for a in resource.attributes if a.key == 'service.name'), '?')
class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        if self.headers.get('Content-Encoding') == 'gzip':
            body = gzip.decompress(body)
        if self.path == '/v1/traces':
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        traces[span.trace_id.hex()].add(service(resource.resource))
        elif self.path == '/v1/metrics':
            metrics.update(service(r.resource) for r in ExportMetricsServiceRequest.FromString(body).resource_metrics)
        self.send_response(200)
        self.send_header('Content-Type', 'application/x-protobuf')
        self.send_header('Content-Length', '0')
        self.end_headers()
    def do_GET(self):
        body = json.dumps({'traces': {t: sorted(s) for t, s in traces.items()}, 'metrics': sorted(metrics)}).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(('', 4318), Collector).serve_forever()
"""
COLLECTOR = "otel"
# A delivery's trace, from its request to its scheduling: the services it crosses through the queues.
SCHEDULING_TRACE = {"ingestion", "workflow", "package", "drone-scheduler", "delivery"}


def _pod_templates(cluster: Any) -> dict[str, Any]:
    return {
        name: _json(cluster, "-n", namespace, "get", "deployment", name)["spec"]["template"]["metadata"]
        for name, namespace in NAMESPACES.items()
    }


def _reconfigure(cluster: Any, observability: dict[str, Any]) -> None:
    """Patches the platform's observability and waits until every service rolled out with it (the ConfigMap's hash
    in the pod template changes, then the rollout completes)."""
    before = _pod_templates(cluster)
    patch = {"spec": {"observability": observability}}
    cluster.kubectl("patch", "deliveryplatform", PLATFORM, "--type=merge", "-p", json.dumps(patch))
    wait_for(
        lambda: all(after != before[name] for name, after in _pod_templates(cluster).items()),
        "every service's pod template to carry the new configuration",
        timeout=120,
        interval=2,
    )
    for name, namespace in NAMESPACES.items():
        cluster.kubectl("-n", namespace, "rollout", "status", f"deployment/{name}", "--timeout=240s")


def test_the_services_on_real_pods_trace_each_delivery_across_the_queues_to_the_collector(
    cluster: Any, platform: dict[str, Any]
) -> None:
    """The platform's telemetry settings, for real: with `otlpEndpoint` on an in-cluster collector (its namespace
    let out to by `collectorNamespace`) and every trace kept, the eight services' pods push their metrics and each
    delivery's spans share one trace id from ingestion to the delivery service, across the queues."""
    image = platform["document"]["spec"]["image"]
    reference = f"{image['repository']}@{image['digest']}"
    cluster.kubectl("create", "namespace", COLLECTOR, check=False)
    collector = deployment(
        "otlp", COLLECTOR, reference, ["python", "-c", OTLP_RECEIVER], pod_labels={"app": "otlp"}, **RESTRICTED_POD
    )
    apply(cluster, collector, service_of("otlp", COLLECTOR, 4318))
    try:
        wait_for(lambda: ready_pods(cluster, COLLECTOR, "app=otlp"), "the collector pod", timeout=120)
        _reconfigure(
            cluster,
            {
                "otlpEndpoint": f"http://otlp.{COLLECTOR}.svc.cluster.local:4318",
                "collectorNamespace": COLLECTOR,
                "tracing": {"samplingRatio": 1},
            },
        )
        with platform_install.service_urls(cluster.kubeconfig) as urls:
            config = SimulatorConfig(drones=5, requests_per_second=5, speed_up=20.0, register_fleet=True, seed=23)
            snapshot = asyncio.run(FleetSimulator(urls, config).run(seconds=30, requests=5, drain_seconds=120))
        assert len(snapshot.requested) == 5

        latest: dict[str, Any] = {}

        def collected() -> dict[str, Any] | None:
            with port_forward(cluster, COLLECTOR, "svc/otlp", 4318) as url:
                latest.update(httpx.get(url, timeout=10).json())
            whole = [t for t, services in latest["traces"].items() if set(services) >= SCHEDULING_TRACE]
            return latest | {"whole": whole} if len(whole) >= 5 and len(latest["metrics"]) == 8 else None

        try:
            seen = wait_for(collected, "5 deliveries' traces and the 8 services' metrics at the collector", timeout=120)
        except AssertionError as error:
            widest = max(latest.get("traces", {}).values(), key=len, default=[])
            raise AssertionError(f"{error}: widest trace {widest}, metrics from {latest.get('metrics')}") from None
        widest = max((seen["traces"][t] for t in seen["whole"]), key=len)
        print(
            f"collector on real pods: {len(seen['traces'])} traces, {len(seen['whole'])} crossing "
            f"{len(SCHEDULING_TRACE)} services (widest: {', '.join(widest)}); metrics from {len(seen['metrics'])} "
            "services"
        )
        assert sorted(seen["metrics"]) == sorted(NAMESPACES)
    finally:
        _reconfigure(cluster, {"otlpEndpoint": None, "collectorNamespace": None, "tracing": None})
        cluster.kubectl("delete", "namespace", COLLECTOR, "--wait=false", check=False)


# Keeps ingestion's pods busy from inside the cluster: 8 threads of GET /readyz (each pings Redis), for argv[2] s.
CPU_LOAD = """
import sys, threading, time, urllib.request
url, until = sys.argv[1], time.monotonic() + float(sys.argv[2])
def hammer():
    while time.monotonic() < until:
        try:
            urllib.request.urlopen(url, timeout=5).read()
        except OSError:
            time.sleep(0.05)
threads = [threading.Thread(target=hammer) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def test_load_on_ingestion_scales_it_out_and_calm_scales_it_back_in(
    cluster: Any, platform: dict[str, Any], probe_image: str
) -> None:
    """The HPA on real CPU figures (metrics-server scraping the real kubelets), both ways."""
    controller = platform["document"]["spec"]["ingress"]["controllerNamespace"]
    cluster.kubectl("create", "namespace", controller, check=False)
    url = f"http://ingestion.{SHIPPING}.svc.cluster.local/readyz"

    def hpa() -> dict[str, Any]:
        status: dict[str, Any] = _json(cluster, "-n", SHIPPING, "get", "hpa", "ingestion")["status"]
        return status

    started = time.monotonic()
    apply(cluster, deployment("cpu-load", controller, probe_image, ["python3", "-c", CPU_LOAD, url, "300"]))
    try:
        wait_for(
            lambda: (
                hpa().get("desiredReplicas", 0) > 2
                and len(ready_pods(cluster, SHIPPING, "app.kubernetes.io/name=ingestion")) > 2
            ),
            "ingestion scaled out under load",
            timeout=240,
            interval=5,
        )
        scaled_out = time.monotonic() - started
        peak = hpa()["desiredReplicas"]
    finally:
        cluster.kubectl("-n", controller, "delete", "deployment", "cpu-load", "--wait=false")
    calm = time.monotonic()
    wait_for(
        lambda: (
            hpa().get("desiredReplicas") == 2 and len(pods(cluster, SHIPPING, "app.kubernetes.io/name=ingestion")) == 2
        ),
        "ingestion back to 2 pods once the load stopped",
        timeout=360,
        interval=5,
    )
    print(f"ingestion: {peak} pods {scaled_out:.0f}s into the load, back to 2 {time.monotonic() - calm:.0f}s after it")


class _ReadyWatch:
    """Samples every second, in the background: the platform's Ready condition, the services that are not Ready
    (and why), and each service's ready pods as its Deployment counts them."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self._stop = threading.Event()
        self.samples: list[tuple[float, str, str]] = []  # (monotonic time, Ready status, servicesReady)
        self.unready: Counter[str] = Counter()  # "namespace/name: reason" -> samples
        self.fewest_ready: dict[str, int] = {}  # service -> fewest ready pods seen
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _json(self, *args: str) -> Any:
        found = self._cluster.kubectl(*args, "-o", "json", check=False)
        return json.loads(found.stdout) if found.returncode == 0 else None

    def _run(self) -> None:
        while not self._stop.is_set():
            platform = self._json("get", "deliveryplatform", PLATFORM)
            if platform is not None:
                status = platform.get("status") or {}
                ready = next((c["status"] for c in status.get("conditions", []) if c["type"] == "Ready"), "absent")
                self.samples.append((time.monotonic(), ready, status.get("servicesReady", "")))
            for namespace in (SHIPPING, CUSTOMER):
                services = self._json("-n", namespace, "get", "droneservices") or {"items": []}
                for item in services["items"]:
                    conditions = (item.get("status") or {}).get("conditions", [])
                    found = next((c for c in conditions if c["type"] == "Ready"), None)
                    if found is not None and found["status"] != "True":
                        what = f"{found['reason']} ({found.get('message', '')})"
                        self.unready[f"{namespace}/{item['metadata']['name']}: {what}"] += 1
                deployments = self._json("-n", namespace, "get", "deployments") or {"items": []}
                for item in deployments["items"]:
                    name = item["metadata"]["name"]
                    if name in NAMESPACES:
                        count = int((item.get("status") or {}).get("readyReplicas", 0))
                        self.fewest_ready[name] = min(count, self.fewest_ready.get(name, count))
            self._stop.wait(1.0)

    def __enter__(self) -> "_ReadyWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def not_ready(self) -> list[tuple[float, str, str]]:
        return [sample for sample in self.samples if sample[1] != "True"]


def _on_node(cluster: Any, namespace: str, selector: str, node: str) -> list[dict[str, Any]]:
    return [p for p in pods(cluster, namespace, selector) if p["spec"].get("nodeName") == node]


def _drain(cluster: Any, node: str, timeout: int) -> tuple[int, str, float]:
    started = time.monotonic()
    drained = cluster.kubectl(
        "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={timeout}s", check=False
    )
    return drained.returncode, drained.stdout + drained.stderr, time.monotonic() - started


def test_draining_a_real_node_keeps_the_platform_ready_and_loses_nothing(
    cluster: Any, platform: dict[str, Any], probe_image: str, real_nodes: list[str]
) -> None:
    """`kubectl drain` of the node holding Redis during a burst of deliveries: the services move one pod at a time
    (their PodDisruptionBudgets), the platform stays Ready all along and every delivery is scheduled exactly once.
    The single-pod stores refuse eviction (their budgets allow none: the data is on that node), so the drain waits
    for them; with `nodeMaintenance` declared it evicts them, they are down while the node is, and come back with
    their data when it is uncordoned."""
    (redis,) = pods(cluster, BACKING, "app.kubernetes.io/name=redis")
    node = redis["spec"]["nodeName"]
    other = next(n for n in real_nodes if n != node)
    stores_there = {p["metadata"]["uid"]: p["metadata"]["name"] for p in _on_node(cluster, BACKING, STORES, node)}
    services = ",".join(NAMESPACES)
    held: dict[str, Any] = {}

    def drain_during_the_burst() -> None:
        held["drain"] = _drain(cluster, node, timeout=90)

    try:
        with _ReadyWatch(cluster) as watch:
            ids = _burst(
                cluster,
                platform,
                probe_image,
                120,
                prefix="drain",
                disrupt=drain_during_the_burst,
                fleet=2000,
                pause=0.3,
                node=other,
            )
        code, output, seconds = held["drain"]
        print(f"drain of {node} during the burst: exit {code} after {seconds:.0f}s")
        assert code != 0, output
        assert "disruption budget" in output, output  # the stores held it
        assert watch.samples
        # Every service kept a ready pod all along: the budgets moved one pod at a time (what serves, loses nothing).
        assert set(watch.fewest_ready) == set(NAMESPACES)
        assert min(watch.fewest_ready.values()) >= 1, watch.fewest_ready
        unready = len(watch.not_ready())
        print(f"platform Ready in {len(watch.samples) - unready} of {len(watch.samples)} samples during the drain")
        print(f"fewest ready pods per service: {watch.fewest_ready}; not Ready (samples): {dict(watch.unready)}")
        # The platform itself stayed Ready: a pod evicted and replaced within a service's budget is not an outage.
        assert unready == 0, dict(watch.unready)
        # The services all left the node and serve from the other one; the stores stayed, with their pods intact.
        for namespace in (SHIPPING, CUSTOMER):
            left = _on_node(cluster, namespace, f"app.kubernetes.io/name in ({services})", node)
            assert left == [], [p["metadata"]["name"] for p in left]
        for name, namespace in NAMESPACES.items():
            assert len(ready_pods(cluster, namespace, f"app.kubernetes.io/name={name}")) >= 2, name
        still = {p["metadata"]["uid"] for p in _on_node(cluster, BACKING, STORES, node)}
        assert set(stores_there) <= still, (stores_there, still)
        _assert_each_scheduled_exactly_once(cluster, ids)

        # Planned maintenance: the stores' budgets lifted, the drain completes, the stores wait for their node.
        patch = {"spec": {"backing": {"inCluster": {"nodeMaintenance": True}}}}
        cluster.kubectl("patch", "deliveryplatform", PLATFORM, "--type=merge", "-p", json.dumps(patch))
        wait_for(
            lambda: _json(cluster, "-n", BACKING, "get", "pdb", "redis")["spec"]["maxUnavailable"] == 1,
            "the stores' budgets lifted",
            timeout=60,
        )
        code, output, seconds = _drain(cluster, node, timeout=120)
        assert code == 0, output
        print(f"drain of {node} with nodeMaintenance: done in {seconds:.0f}s")
        stranded = wait_for(
            lambda: (
                (found := pods(cluster, BACKING, "app.kubernetes.io/name=redis"))
                and found[0]["status"]["phase"] == "Pending"
                and found
            ),
            "Redis waiting for its node",
            timeout=60,
        )
        assert not stranded[0]["spec"].get("nodeName"), stranded[0]["spec"]  # not started anywhere without its data
    finally:
        cluster.kubectl("uncordon", node, check=False)
        patch = {"spec": {"backing": {"inCluster": {"nodeMaintenance": False}}}}
        cluster.kubectl("patch", "deliveryplatform", PLATFORM, "--type=merge", "-p", json.dumps(patch), check=False)
    back = time.monotonic()
    wait_for(
        lambda: [
            p for p in ready_pods(cluster, BACKING, "app.kubernetes.io/name=redis") if p["spec"]["nodeName"] == node
        ],
        "Redis back on its node",
        timeout=180,
    )
    cluster.kubectl("wait", "--for=condition=Ready", f"deliveryplatform/{PLATFORM}", "--timeout=240s")
    print(f"{node} uncordoned: Redis and the platform Ready again {time.monotonic() - back:.0f}s later")
    with port_forward(cluster, SHIPPING, "svc/workflow", 80) as workflow:
        kept = [httpx.get(f"{workflow}/v1/workflows/{d}", timeout=30) for d in ids]
    answers = {(view.status_code, view.json().get("stage") or view.text) for view in kept}
    assert answers == {(200, "scheduled")}, answers  # Redis kept them, and the services use it again at once

"""The backing stores' images run as restricted pods on a real node and answer their protocols."""

import json
from typing import Any

import pytest

from fabrikam.devcluster import backing_images

from .conftest import ON_REAL_NODES, SLEEP, apply, ready_pods, wait_for

RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

# From a pod of the Debian base: Redis PING, the SMTP banner and one delivered message, a TCP connection to FerretDB.
CLIENT = """
import json, smtplib, socket, sys
redis, mail, mongo = sys.argv[1:]
answers = {}
with socket.create_connection((redis, 6379), timeout=5) as connection:
    connection.sendall(b"PING\\r\\n")
    answers["redis"] = connection.recv(64).decode().strip()
with socket.create_connection((mail, 2525), timeout=5) as connection:
    answers["mail"] = connection.recv(256).decode().split(" ")[0]
with smtplib.SMTP(mail, 2525, timeout=5) as smtp:
    smtp.sendmail("drone@fabrikam.test", ["customer@fabrikam.test"], "Subject: delivered\\r\\n\\r\\nOn its way.\\r\\n")
with socket.create_connection((mongo, 27017), timeout=5):
    answers["mongo"] = "connected"
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def built() -> backing_images.BackingImages:
    return backing_images.build(lambda message: None)


def _pod(
    name: str,
    namespace: str,
    image: str,
    port: int | None,
    writable: dict[str, str],
    *,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    run_as: int | None = None,
) -> dict[str, Any]:
    """A pod on a real node, restricted; `writable`: mount path -> volume (an emptyDir unless it is a claim)."""
    container: dict[str, Any] = {"name": name, "image": image, "securityContext": RESTRICTED}
    if args is not None:
        container["args"] = args
    if command is not None:
        container["command"] = command
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if port:
        container["ports"] = [{"containerPort": port}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 1}
    volumes = [f"v{i}" for i in range(len(writable))]
    container["volumeMounts"] = [{"name": v, "mountPath": path} for v, path in zip(volumes, writable, strict=True)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            **ON_REAL_NODES,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsUser": run_as} if run_as is not None else {},
            "containers": [container],
            "volumes": [
                {"name": v, "persistentVolumeClaim": {"claimName": source}} if source else {"name": v, "emptyDir": {}}
                for v, source in zip(volumes, writable.values(), strict=True)
            ],
        },
    }


def test_redis_postgres_ferretdb_and_the_mail_sink_run_restricted_and_answer(
    cluster: Any, namespace: str, real_nodes: list[str], built: backing_images.BackingImages, probe_image: str
) -> None:
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "postgres", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "256Mi"}}},
    }
    apply(
        cluster,
        claim,
        _pod("redis", namespace, built.redis, 6379, {"/data": ""}, args=["--protected-mode", "no"]),
        _pod(
            "postgres",
            namespace,
            built.postgres,
            5432,
            {"/var/lib/postgresql/data": "postgres", "/var/run/postgresql": "", "/tmp": ""},
            env={"POSTGRES_USER": "fabrikam", "POSTGRES_DB": "accounts"},
        ),
        _pod(
            "ferretdb",
            namespace,
            built.mongo,
            27017,
            {"/data": "", "/state": ""},
            args=[
                "--handler=sqlite",
                "--sqlite-url=file:/data/",
                "--listen-addr=0.0.0.0:27017",
                "--telemetry=disable",
                "--state-dir=/state",
            ],
        ),
        _pod("mail", namespace, built.mail, 2525, {"/var/mail": ""}),
        _pod("client", namespace, probe_image, None, {}, command=SLEEP, run_as=65534),
    )
    names = ("redis", "postgres", "ferretdb", "mail", "client")

    def all_ready() -> dict[str, dict[str, Any]]:
        found = {p["metadata"]["name"]: p for p in ready_pods(cluster, namespace, "app")}
        return found if set(found) == set(names) else {}

    pods = wait_for(all_ready, "the four stores and a client Ready", timeout=300)
    assert all(pods[name]["spec"]["nodeName"] in real_nodes for name in names)
    ip = {name: pods[name]["status"]["podIP"] for name in names}

    def run(pod: str, *command: str) -> str:
        return str(cluster.kubectl("-n", namespace, "exec", pod, "--", *command).stdout)

    answers = json.loads(run("client", "python3", "-c", CLIENT, ip["redis"], ip["mail"], ip["ferretdb"]))
    assert answers == {"redis": "+PONG", "mail": "220", "mongo": "connected"}
    assert "accepting connections" in run("postgres", "pg_isready", "-h", ip["postgres"], "-p", "5432")
    query = "select current_database(), current_user, current_setting('data_directory')"
    row = run("postgres", "psql", "-h", ip["postgres"], "-U", "fabrikam", "-d", "accounts", "-tAc", query)
    assert row.strip() == "accounts|fabrikam|/var/lib/postgresql/data/pgdata"
    assert len(run("mail", "ls", "/var/mail/sink/new").split()) == 1
    # runAsNonRoot without a runAsUser: the kubelet started each only because its image names a non-root uid.
    assert {run(name, "id", "-u").strip() for name in ("redis", "postgres", "mail")}.isdisjoint({"0"})

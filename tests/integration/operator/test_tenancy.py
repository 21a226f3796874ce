"""Tenancy on the local control plane: the cases found by trying the samples as a team would are refused with a
reason naming the field, and what the other side accepts opens at once (the operator's idle re-check is an hour
away here, so only the change itself can have done it)."""

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from fabrikam.operator.api.platform import BundledServices

pytestmark = pytest.mark.cluster

DIGEST = "sha256:" + "e" * 64
REGISTRY = "fabrikam.azurecr.io"
PROPAGATION_SECONDS = 20


@pytest.fixture(scope="module")
def teams(cluster: Any, operator_factory: Any) -> Iterator[tuple[str, str, str]]:
    """Two teams; customer owns the bundled account service (the only one enabled); in-cluster stores. Yields
    (platform, shipping namespace, customer namespace)."""
    operator_factory({"FABRIKAM_OPERATOR_RESYNC_SECONDS": "3600"})
    name = f"tenancy-{uuid.uuid4().hex[:6]}"
    shipping, customer = f"{name}-shipping", f"{name}-customer"
    services = BundledServices.all_disabled() | {"account": {"enabled": True}}
    platform = {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "metadata": {"name": name},
        "spec": {
            "image": {"repository": f"{REGISTRY}/fabrikam/drone-delivery", "digest": DIGEST},
            "teams": [
                {"name": "shipping", "namespace": shipping, "costCenter": "cc-shipping"},
                {"name": "customer", "namespace": customer, "costCenter": "cc-customer", "services": ["account"]},
            ],
            "services": services,
            # Stores for the queue and account (on simulated nodes: nothing runs, but nothing is missing either).
            "backing": {
                "inCluster": {
                    "namespace": f"{name}-backing",
                    **{
                        store: {"image": {"repository": f"{REGISTRY}/fabrikam/{store}", "digest": DIGEST}}
                        for store in ("redis", "mongo", "postgres")
                    },
                }
            },
        },
    }
    _apply(cluster, platform)
    for namespace in (shipping, customer):
        cluster.kubectl("wait", "--for=create", f"namespace/{namespace}", "--timeout=60s")
    cluster.kubectl("wait", "--for=create", "networkpolicy/account", "-n", customer, "--timeout=60s")
    yield name, shipping, customer
    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)


def _apply(cluster: Any, document: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(document))


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _service(name: str, namespace: str, platform: str, repository: str = f"{REGISTRY}/shipping/x", **spec: Any) -> Any:
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "platformRef": {"name": platform},
            "image": {"repository": repository, "digest": DIGEST},
            "identity": {"azure": False},
            **spec,
        },
    }


def _degraded(cluster: Any, namespace: str, name: str) -> tuple[str, str] | None:
    conditions = _get(cluster, "droneservice", name, "-n", namespace).get("status", {}).get("conditions", [])
    found = next((c for c in conditions if c["type"] == "Degraded" and c["status"] == "True"), None)
    return (found["reason"], found["message"]) if found else None


def _admitted(cluster: Any, namespace: str, name: str) -> set[tuple[str, str]]:
    """(namespace, service) of the pods the service's NetworkPolicy lets in."""
    policy = _get(cluster, "networkpolicy", name, "-n", namespace)
    return {
        (
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        )
        for rule in policy["spec"].get("ingress") or []
        for peer in rule["from"]
        if "podSelector" in peer
    }


def test_a_call_into_another_team_opens_when_the_platform_accepts_it(
    cluster: Any, teams: tuple[str, str, str], eventually: Any
) -> None:
    platform, shipping, customer = teams
    _apply(cluster, _service("snoop", shipping, platform, calls=[{"name": "account", "namespace": customer}]))
    reason, message = eventually(
        lambda: _degraded(cluster, shipping, "snoop"), timeout=PROPAGATION_SECONDS, what="the caller Degraded"
    )
    assert reason == "CallNotAccepted"
    assert f"spec.calls[0]: {customer}/account does not accept calls from {shipping}/snoop" in message
    assert "spec.services.account.allowedCallers" in message
    assert (shipping, "snoop") not in _admitted(cluster, customer, "account")

    consent = {"spec": {"services": {"account": {"allowedCallers": [{"team": "shipping"}]}}}}
    cluster.kubectl("patch", "deliveryplatform", platform, "--type=merge", "-p", json.dumps(consent))
    eventually(
        lambda: (shipping, "snoop") in _admitted(cluster, customer, "account"),
        timeout=PROPAGATION_SECONDS,
        what="account's NetworkPolicy admitting the accepted caller",
    )
    eventually(
        lambda: _degraded(cluster, shipping, "snoop") is None,
        timeout=PROPAGATION_SECONDS,
        what="the caller no longer Degraded once accepted",
    )


def test_a_queue_opens_when_the_platform_grants_it_to_the_team(
    cluster: Any, teams: tuple[str, str, str], eventually: Any
) -> None:
    platform, shipping, _ = teams
    uses = [{"kind": "queue", "name": "delivery-requests", "access": ["receive"]}]
    _apply(cluster, _service("drain-queue", shipping, platform, uses=uses))
    reason, message = eventually(
        lambda: _degraded(cluster, shipping, "drain-queue"), timeout=PROPAGATION_SECONDS, what="Degraded"
    )
    assert reason == "QueueNotGranted"
    assert "spec.uses[0].name: team 'shipping' is not granted receive on queue 'delivery-requests'" in message

    document = _get(cluster, "deliveryplatform", platform)
    teams_spec = document["spec"]["teams"]
    next(t for t in teams_spec if t["name"] == "shipping")["queues"] = [
        {"name": "delivery-requests", "access": ["receive"]}
    ]
    cluster.kubectl(
        "patch", "deliveryplatform", platform, "--type=merge", "-p", json.dumps({"spec": {"teams": teams_spec}})
    )
    eventually(
        lambda: _degraded(cluster, shipping, "drain-queue") is None,
        timeout=PROPAGATION_SECONDS,
        what="the service no longer Degraded once its team is granted the queue",
    )
    # Locally the queue is a Redis stream: the service's ACL user reaches it now, and still not the others.
    user = eventually(
        lambda: (
            "~queue:delivery-requests " in (line := _acl_users(cluster, platform).get(f"{shipping}.drain-queue", ""))
            and line
        ),
        timeout=PROPAGATION_SECONDS,
        what="the service's Redis user reaching the granted queue's stream",
    )
    assert "~queue:delivery-requests:* " in user
    assert "~*" not in user.split()


def _acl_users(cluster: Any, platform: str) -> dict[str, str]:
    """The in-cluster Redis's ACL file as the operator wrote it: user name -> its line."""
    acl = _get(cluster, "configmap", "redis-acl", "-n", f"{platform}-backing")["data"]["users.acl"]
    return {line.split()[1]: line for line in acl.splitlines() if line.startswith("user ")}


def _secret_file(cluster: Any, namespace: str, name: str) -> str:
    data = _get(cluster, "secret", name, "-n", namespace)["data"]
    return base64.b64decode(data["redis-password"]).decode()


def test_a_team_service_using_redis_gets_a_user_for_its_own_keys_until_it_is_deleted(
    cluster: Any, teams: tuple[str, str, str], eventually: Any
) -> None:
    platform, shipping, customer = teams
    backing = f"{platform}-backing"
    users = eventually(
        lambda: _acl_users(cluster, platform), timeout=PROPAGATION_SECONDS, what="the Redis ACL ConfigMap"
    )
    assert users["default"] == "user default on nopass resetchannels -@all +ping"
    # The bundled account service's user, with the password of its own Secret; the sidecar's, with its own.
    for user, namespace, secret in (
        (f"{customer}.account", customer, "account-redis"),
        ("acl-admin", backing, "redis-acl-admin"),
    ):
        password = eventually(
            lambda ns=namespace, name=secret: _secret_file(cluster, ns, name), timeout=PROPAGATION_SECONDS, what=secret
        )
        assert f" #{hashlib.sha256(password.encode()).hexdigest()} " in users[user], user
    redis = _get(cluster, "statefulset", "redis", "-n", backing)["spec"]["template"]["spec"]
    assert [c["name"] for c in redis["containers"]] == ["redis", "acl-sync"]
    assert "--aclfile" in redis["containers"][0]["args"]

    _apply(cluster, _service("reports", shipping, platform, uses=[{"kind": "redis", "name": "reports"}]))
    line = eventually(
        lambda: _acl_users(cluster, platform).get(f"{shipping}.reports"),
        timeout=PROPAGATION_SECONDS,
        what="the team service's Redis user",
    )
    password = eventually(
        lambda: _secret_file(cluster, shipping, "reports-redis"), timeout=PROPAGATION_SECONDS, what="its Secret"
    )
    prefix = f"team/{shipping}/reports:"
    assert line.startswith(f"user {shipping}.reports on #{hashlib.sha256(password.encode()).hexdigest()} ")
    assert f" ~{prefix}* " in line
    assert f" &{prefix}* " in line
    assert " ~* " not in line
    config = _get(cluster, "configmap", "reports-config", "-n", shipping)["data"]
    assert config["FABRIKAM_REDIS_URL"] == f"redis://{shipping}.reports@redis.{backing}.svc.cluster.local:6379/0"
    assert config["FABRIKAM_REDIS_PASSWORD_FILE"] == "/mnt/redis/redis-password"

    cluster.kubectl("delete", "droneservice", "reports", "-n", shipping)
    eventually(
        lambda: f"{shipping}.reports" not in _acl_users(cluster, platform),
        timeout=PROPAGATION_SECONDS,
        what="the deleted service's Redis user removed",
    )


@pytest.mark.parametrize(
    ("name", "override", "reason", "field"),
    [
        ("fake-account", {"component": "account"}, "ComponentReserved", "spec.component"),
        ("outsider", {"repository": "docker.io/library/nginx"}, "ImageNotAllowed", "spec.image.repository"),
    ],
)
def test_a_bundled_component_or_a_foreign_image_is_refused_and_nothing_runs(
    cluster: Any, teams: tuple[str, str, str], eventually: Any, name: str, override: Any, reason: str, field: str
) -> None:
    platform, shipping, _ = teams
    repository = override.pop("repository", f"{REGISTRY}/shipping/x")
    _apply(cluster, _service(name, shipping, platform, repository, **override))
    found, message = eventually(lambda: _degraded(cluster, shipping, name), timeout=PROPAGATION_SECONDS)
    assert (found, message.split(":")[0]) == (reason, field)
    assert cluster.kubectl("get", "deployment", name, "-n", shipping, check=False).returncode != 0
    events = _get(cluster, "events", "-n", shipping, "--field-selector", f"involvedObject.name={name}")["items"]
    assert any(e["reason"] == reason and e["type"] == "Warning" for e in events)

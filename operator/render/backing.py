"""In-cluster backing services (`spec.backing.inCluster`): the stores a development or test platform runs itself.

Redis, FerretDB (MongoDB wire) and PostgreSQL each run as a one-replica StatefulSet with its own volume in a
restricted namespace that denies everything except their clients; an optional SMTP sink keeps the e-mail the
notification service sends. A service is wired to a store through its environment, and its pods carry a label per
store they are a client of, which the store's NetworkPolicy admits (from the platform's team namespaces only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fabrikam.operator.api import API_VERSION, GROUP, Component, DeliveryPlatform, DependencyKind, DroneService
from fabrikam.operator.api.platform import BackingStore, InClusterBacking
from fabrikam.operator.render.labels import (
    COMPONENT,
    INSTANCE,
    MANAGED_BY,
    NAME,
    NAMESPACE_NAME,
    PART_OF,
    PLATFORM,
    Obj,
    metadata,
    owner_reference,
    selector,
)
from fabrikam.operator.render.network import team_policies
from fabrikam.operator.render.team import pod_security_labels
from fabrikam.operator.render.workload import HARDENED_CONTAINER, REDIS_DIR, node_placement

REDIS = "redis"
MONGO = "mongo"
POSTGRES = "postgres"
MAIL = "mail-sink"
PORTS = {REDIS: 6379, MONGO: 27017, POSTGRES: 5432, MAIL: 2525}
# PostgreSQL's database and role for `sql` dependencies (trust authentication: only admitted clients reach it).
DATABASE = "fabrikam"
DEFAULT_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
TMP = {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
DATA = "data"
# Redis's ACL users (redis_acl.py): the file in a ConfigMap, applied by a sidecar when the kubelet updates it.
ACL_CONFIG_MAP = "redis-acl"
ACL_FILE = "users.acl"
ACL_DIR = "/etc/redis/acl"
# The sidecar's own Redis user, allowed to change users only; its password is in a Secret only the sidecar mounts.
ACL_ADMIN_USER = "acl-admin"
ACL_ADMIN_SECRET = "redis-acl-admin"
ACL_ADMIN_DIR = "/etc/redis/admin"
REDIS_PASSWORD_FILE = "redis-password"


def acl_sync_script(port: int, acl_file: str, admin_password_file: str) -> str:
    """The sidecar: applies each change of the ACL file to the running Redis, user by user (`ACL SETUSER` for a
    new or changed line, `ACL DELUSER` for a user gone, which also closes that user's connections). `ACL LOAD`
    would be simpler, but Redis 7.0 closes every client's connection on it: each team service added would cut off
    the whole platform. A line Redis refuses is logged and tried again; the others are applied. The kubelet swaps a
    ConfigMap volume's files within its sync period. TERM ends the loop at once (a shell as PID 1 ignores it)."""
    return f"""set -f
trap 'exit 0' TERM
export REDISCLI_AUTH
cli() {{ redis-cli -p {port} --user {ACL_ADMIN_USER} "$@" 2>&1; }}
applied=""
while :; do
  current="$(cat {acl_file})"
  if [ "$current" != "$applied" ] && REDISCLI_AUTH="$(cat {admin_password_file})" && [ "$(cli PING)" = PONG ]; then
    failed=0
    while IFS= read -r line; do
      case "$line" in "user "*) ;; *) continue ;; esac
      printf '%s\n' "$applied" | grep -qxF -- "$line" && continue
      set -- $line
      shift
      name=$1
      shift
      out=$(cli ACL SETUSER "$name" reset "$@")
      [ "$out" = OK ] || {{ echo "ACL SETUSER $name: $out" >&2; failed=1; }}
    done <<EOF
$current
EOF
    for user in $(cli ACL USERS); do
      printf '%s\n' "$current" | grep -q "^user $user " && continue
      out=$(cli ACL DELUSER "$user")
      [ "$out" = 1 ] || {{ echo "ACL DELUSER $user: $out" >&2; failed=1; }}
    done
    if [ "$failed" = 0 ]; then
      applied="$current"
      echo "ACL users in sync: $(printf '%s\n' "$current" | grep -c '^user ')"
    fi
  fi
  sleep 2 &
  wait $!
done
"""


def client_label(store: str) -> str:
    """The pod label that makes a pod a client of `store` (admitted by the store's NetworkPolicy)."""
    return f"backing.{GROUP}/{store}"


def redis_user(namespace: str, name: str) -> str:
    """A service's ACL user in the in-cluster Redis (a dot cannot occur in a namespace name)."""
    return f"{namespace}.{name}"


def redis_secret_name(svc: DroneService) -> str:
    """The Secret with the service's Redis password, created by the operator (never read by it)."""
    return f"{svc.name}-redis"


def uses_redis(svc: DroneService, platform: DeliveryPlatform) -> bool:
    return REDIS in stores_of(svc, platform)


def host(backing: InClusterBacking, store: str) -> str:
    return f"{store}.{backing.namespace}.svc.cluster.local"


def stores_of(svc: DroneService, platform: DeliveryPlatform) -> list[str]:
    """The in-cluster stores a service is a client of: Redis for every bundled service (broker and state) and
    for `queue`/`redis` uses, FerretDB for `mongo`, PostgreSQL for `sql`, the mail sink for the notification service."""
    backing = platform.spec.backing.in_cluster
    if backing is None:
        return []
    kinds = {use.kind for use in svc.spec.uses}
    stores = []
    bundled = svc.spec.component is not Component.CUSTOM
    if bundled or kinds & {DependencyKind.QUEUE, DependencyKind.REDIS}:
        stores.append(REDIS)
    if DependencyKind.MONGO in kinds:
        stores.append(MONGO)
    if DependencyKind.SQL in kinds:
        stores.append(POSTGRES)
    if backing.mail is not None and svc.spec.component is Component.NOTIFICATION:
        stores.append(MAIL)
    return stores


def environment(svc: DroneService, platform: DeliveryPlatform) -> dict[str, str]:
    """The connection settings of the stores the service is a client of."""
    backing = platform.spec.backing.in_cluster
    if backing is None:
        return {}
    env: dict[str, str] = {}
    for store in stores_of(svc, platform):
        address = host(backing, store)
        if store == REDIS:
            # The user's password is a file of the service's `-redis` Secret (render.workload mounts it).
            user = redis_user(svc.namespace, svc.name)
            env["FABRIKAM_REDIS_URL"] = f"redis://{user}@{address}:{PORTS[REDIS]}/0"
            env["FABRIKAM_REDIS_PASSWORD_FILE"] = f"{REDIS_DIR}/{REDIS_PASSWORD_FILE}"
        elif store == MONGO:
            env["FABRIKAM_MONGO_URL"] = f"mongodb://{address}:{PORTS[MONGO]}/"
        elif store == POSTGRES:
            env["FABRIKAM_DATABASE_URL"] = f"postgresql+asyncpg://{DATABASE}@{address}:{PORTS[POSTGRES]}/{DATABASE}"
        else:
            env |= {"FABRIKAM_EMAIL_PROVIDER": "smtp", "FABRIKAM_SMTP_HOST": address}
            env["FABRIKAM_SMTP_PORT"] = str(PORTS[MAIL])
    return env


def client_egress(svc: DroneService, platform: DeliveryPlatform) -> list[Obj]:
    """The service's NetworkPolicy egress rules to its stores."""
    backing = platform.spec.backing.in_cluster
    if backing is None:
        return []
    return [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {NAMESPACE_NAME: backing.namespace}},
                    "podSelector": {"matchLabels": selector(store)},
                }
            ],
            "ports": [{"protocol": "TCP", "port": PORTS[store]}],
        }
        for store in stores_of(svc, platform)
    ]


def client_labels(svc: DroneService, platform: DeliveryPlatform) -> dict[str, str]:
    return {client_label(store): "true" for store in stores_of(svc, platform)}


# What the operator generates for a service's development Secret (`dev_secret`); third-party keys (SendGrid,
# Twilio) are not generated: add them to the Secret by hand (the files appear in the pods), or leave them out.
PII_KEY = "pii-key"
PAYMENTS_WEBHOOK_SECRET = "payments-webhook-secret"
ACCOUNT_ISSUER_KEY = "account-issuer-key"
GENERATED = (PII_KEY, PAYMENTS_WEBHOOK_SECRET)


def dev_secret_name(svc: DroneService) -> str:
    return f"{svc.name}-secrets"


def dev_secret_keys(svc: DroneService, platform: DeliveryPlatform) -> list[str]:
    """The files of a service's development Secret: its declared secrets the operator can generate, and the
    account service's token signing key. Empty unless the platform runs in-cluster backing without a Key Vault."""
    azure = platform.spec.azure
    if platform.spec.backing.in_cluster is None or (azure is not None and azure.key_vault_name is not None):
        return []
    keys = [secret.name for secret in svc.spec.secrets if secret.name in GENERATED]
    if svc.spec.component is Component.ACCOUNT:
        keys.append(ACCOUNT_ISSUER_KEY)
    return keys


def dev_secret(svc: DroneService, values: Mapping[str, str], *, labels: dict[str, str], owners: list[Obj]) -> Obj:
    """The service's development Secret, mounted as files (never environment variables). The operator only ever
    creates it, with freshly generated `values`: it never reads a Secret, and an existing one is left as it is."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(dev_secret_name(svc), namespace=svc.namespace, labels=labels, owners=owners),
        "type": "Opaque",
        "stringData": dict(sorted(values.items())),
    }


def description(spec: Mapping[str, Any]) -> str | None:
    """What `kubectl get deliveryplatform` shows in its Backing column, from the platform's spec as stored (read
    as a mapping: the status is written even when the spec does not parse)."""
    in_cluster = (spec.get("backing") or {}).get("inCluster")
    if in_cluster is not None:
        return f"in-cluster ({in_cluster.get('namespace', 'fabrikam-backing')})"
    if spec.get("azure") is not None:
        return "azure"
    return None


@dataclass(frozen=True)
class _Store:
    """How one store runs: its arguments, environment and writable paths (volume name -> mount path)."""

    name: str
    spec: BackingStore
    args: list[str]
    mounts: dict[str, str]
    env: dict[str, str]


def _stores(backing: InClusterBacking) -> list[_Store]:
    return [
        _Store(
            REDIS,
            backing.redis,
            # Append-only file with fsync every second: the queues and state survive a restart of the pod.
            [
                *("--port", str(PORTS[REDIS]), "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"),
                *("--appendonly", "yes", "--appendfsync", "everysec"),
                *("--aclfile", f"{ACL_DIR}/{ACL_FILE}"),
            ],
            {DATA: "/data"},
            {},
        ),
        _Store(
            MONGO,
            backing.mongo,
            [
                *("--handler=sqlite", "--sqlite-url=file:/data/", f"--listen-addr=0.0.0.0:{PORTS[MONGO]}"),
                *("--state-dir=/state", "--telemetry=disable", "--log-level=warn", "--debug-addr=127.0.0.1:8088"),
            ],
            {DATA: "/data", "state": "/state"},
            {},
        ),
        _Store(
            POSTGRES,
            backing.postgres,
            [],
            {DATA: "/var/lib/postgresql/data", "run": "/var/run/postgresql"},
            {"PGDATA": "/var/lib/postgresql/data/pgdata", "POSTGRES_DB": DATABASE, "POSTGRES_USER": DATABASE},
        ),
    ]


def store_labels(platform: DeliveryPlatform, name: str) -> dict[str, str]:
    return {
        NAME: name,
        INSTANCE: platform.name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        COMPONENT: "backing",
        PLATFORM: platform.name,
    }


def _container(
    name: str, image: str, args: list[str], env: dict[str, str], mounts: dict[str, str], resources: Obj
) -> Obj:
    port = PORTS[name]
    tcp = {"tcpSocket": {"port": port}}
    container: Obj = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "ports": [{"name": "store", "containerPort": port, "protocol": "TCP"}],
        "resources": resources,
        # The image's own numeric user (the packages' redis/postgres users), checked non-root by the kubelet.
        "securityContext": dict(HARDENED_CONTAINER),
        "startupProbe": tcp | {"periodSeconds": 2, "failureThreshold": 60},
        "readinessProbe": tcp | {"periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": tcp | {"periodSeconds": 10, "failureThreshold": 6},
        "volumeMounts": [{"name": volume, "mountPath": path} for volume, path in {**mounts, "tmp": "/tmp"}.items()],
    }
    if not args:
        del container["args"]
    if not env:
        del container["env"]
    return container


def _pod_spec(name: str, container: Obj, volumes: list[Obj], platform: DeliveryPlatform) -> Obj:
    return node_placement(platform) | {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": volumes,
    }


def _service(name: str, namespace: str, labels: dict[str, str], owners: list[Obj]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace=namespace, labels=labels, owners=owners),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [{"name": "store", "port": PORTS[name], "targetPort": "store", "protocol": "TCP"}],
        },
    }


def _account(name: str, namespace: str, labels: dict[str, str], owners: list[Obj]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(name, namespace=namespace, labels=labels, owners=owners),
        "automountServiceAccountToken": False,
    }


def _policy(name: str, platform: DeliveryPlatform, namespace: str, labels: dict[str, str], owners: list[Obj]) -> Obj:
    """Only pods labelled as the store's clients, in the platform's team namespaces, get in."""
    teams = sorted(team.namespace for team in platform.spec.teams)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, namespace=namespace, labels=labels, owners=owners),
        "spec": {
            "podSelector": {"matchLabels": selector(name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchExpressions": [{"key": NAMESPACE_NAME, "operator": "In", "values": teams}]
                            },
                            "podSelector": {"matchLabels": {client_label(name): "true"}},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": PORTS[name]}],
                }
            ],
        },
    }


def _disruption_budget(name: str, backing: InClusterBacking, labels: dict[str, str], owners: list[Obj]) -> Obj:
    """A store is a single pod on a node-local volume: evicting it is an outage until its node is back, so a drain
    waits (Kubernetes' advice for single-instance stateful apps) unless the platform declares node maintenance.
    Always rendered, so lifting it is a change of one field and not a deletion the applier would have to prune."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, namespace=backing.namespace, labels=labels, owners=owners),
        "spec": {
            "maxUnavailable": 1 if backing.node_maintenance else 0,
            "selector": {"matchLabels": selector(name)},
            # A store that crash-loops anyway must not block the drain too.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def _stateful_set(
    store: _Store, platform: DeliveryPlatform, backing: InClusterBacking, labels: dict[str, str], owners: list[Obj]
) -> Obj:
    resources = store.spec.resources.model_dump(by_alias=True) if store.spec.resources else DEFAULT_RESOURCES
    container = _container(store.name, store.spec.image.reference, store.args, store.env, store.mounts, resources)
    scratch = [{"name": volume, "emptyDir": {"sizeLimit": "64Mi"}} for volume in store.mounts if volume != DATA]
    pod = _pod_spec(store.name, container, [*scratch, TMP], platform)
    if store.name == REDIS:
        _add_acl_sync(pod, store.spec.image.reference)
    claim: Obj = {
        "metadata": {"name": DATA, "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": store.spec.storage}}},
    }
    if backing.storage_class_name is not None:
        claim["spec"]["storageClassName"] = backing.storage_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(store.name, namespace=backing.namespace, labels=labels, owners=owners),
        "spec": {
            "replicas": 1,
            "serviceName": store.name,
            "selector": {"matchLabels": selector(store.name)},
            "template": {
                "metadata": {"labels": labels},
                "spec": pod,
            },
            "volumeClaimTemplates": [claim],
            # The data outlives the platform: delete the PVCs to start over.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        },
    }


def _add_acl_sync(pod: Obj, image: str) -> None:
    """Redis reads its users from the ACL ConfigMap at start; the sidecar applies the file's changes while it runs."""
    acl_mount = {"name": "acl", "mountPath": ACL_DIR, "readOnly": True}
    admin_mount = {"name": "acl-admin", "mountPath": ACL_ADMIN_DIR, "readOnly": True}
    pod["volumes"] += [
        {"name": "acl", "configMap": {"name": ACL_CONFIG_MAP, "defaultMode": 0o444}},
        # Readable by the pod's own users: the store runs as its image's user and has no fsGroup to share a group
        # with (found on real pods: 0440 left the file root's, "Permission denied"). Only this pod mounts it.
        {"name": "acl-admin", "secret": {"secretName": ACL_ADMIN_SECRET, "defaultMode": 0o444}},
    ]
    pod["containers"][0]["volumeMounts"].append(acl_mount)
    script = acl_sync_script(PORTS[REDIS], f"{ACL_DIR}/{ACL_FILE}", f"{ACL_ADMIN_DIR}/{REDIS_PASSWORD_FILE}")
    pod["containers"].append(
        {
            "name": "acl-sync",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/sh", "-c", script],
            "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}},
            "securityContext": dict(HARDENED_CONTAINER),
            "volumeMounts": [acl_mount, admin_mount],
        }
    )


def _mail_sink(
    platform: DeliveryPlatform, backing: InClusterBacking, image: str, labels: dict[str, str], owners: list[Obj]
) -> Obj:
    container = _container(MAIL, image, [], {}, {"mail": "/var/mail"}, DEFAULT_RESOURCES)
    volumes = [{"name": "mail", "emptyDir": {"sizeLimit": "256Mi"}}, TMP]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(MAIL, namespace=backing.namespace, labels=labels, owners=owners),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(MAIL)},
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels}, "spec": _pod_spec(MAIL, container, volumes, platform)},
        },
    }


def render_backing(platform: DeliveryPlatform) -> list[Obj]:
    """Every object of the in-cluster backing services, in apply order; none without `spec.backing.inCluster`."""
    backing = platform.spec.backing.in_cluster
    if backing is None:
        return []
    owners = owner_reference(
        api_version=API_VERSION, kind="DeliveryPlatform", name=platform.name, uid=platform.metadata.uid
    )
    ns = backing.namespace
    labels = store_labels(platform, "backing")
    objects: list[Obj] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": metadata(ns, labels=labels | pod_security_labels(), owners=owners),
        },
        *team_policies(ns, platform=platform, labels=labels, owners=owners),
    ]
    for store in _stores(backing):
        labels_of_store = store_labels(platform, store.name)
        objects += [
            _account(store.name, ns, labels_of_store, owners),
            _service(store.name, ns, labels_of_store, owners),
            _policy(store.name, platform, ns, labels_of_store, owners),
            _stateful_set(store, platform, backing, labels_of_store, owners),
            _disruption_budget(store.name, backing, labels_of_store, owners),
        ]
    if backing.mail is not None:
        mail_labels = store_labels(platform, MAIL)
        objects += [
            _account(MAIL, ns, mail_labels, owners),
            _service(MAIL, ns, mail_labels, owners),
            _policy(MAIL, platform, ns, mail_labels, owners),
            _mail_sink(platform, backing, backing.mail.image.reference, mail_labels, owners),
            _disruption_budget(MAIL, backing, mail_labels, owners),
        ]
    return objects

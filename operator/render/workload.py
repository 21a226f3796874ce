"""The workload objects of one DroneService: ServiceAccount, ConfigMap, Deployment, Service, HPA, PDB, and the
Key Vault SecretProviderClass.

The Deployment carries no `replicas`: the HPA owns that field, and an operator that also set it would fight
the autoscaler on every reconcile. The HPA raises a new Deployment to `minReplicas` at once.

The platform's off-hours lower only the HPA's minimum: the Deployment (its pod template, config hash and initial
replicas) is the same at any hour, so opening or closing the window never rolls the pods.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.service import ProbeOverride
from fabrikam.operator.render import databases
from fabrikam.operator.render.labels import CONFIG_HASH, INITIAL_REPLICAS, OFF_HOURS, Obj, metadata, selector

CONTAINER = "app"
RUN_AS = 10001
SECRETS_DIR = "/mnt/secrets"
# The in-cluster Redis password (its own volume: a Key Vault's CSI volume cannot be merged with a Secret).
REDIS_DIR = "/mnt/redis"
SPOT_KEY = "kubernetes.azure.com/scalesetpriority"
SPOT_TOLERATION: Obj = {"key": SPOT_KEY, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
WORKLOAD_IDENTITY_USE = "azure.workload.identity/use"
WORKLOAD_IDENTITY_CLIENT_ID = "azure.workload.identity/client-id"

# Every container the operator runs: non-root, read-only, unprivileged (Pod Security `restricted` and more).
HARDENED_CONTAINER: Obj = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

# Liveness checks the process only (/healthz): a dependency outage must not restart healthy pods.
# Readiness (/readyz) may check dependencies, which only takes the pod out of the Service.
PROBES: dict[str, Obj] = {
    "startupProbe": {"path": "/healthz", "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 30},
    "readinessProbe": {"path": "/readyz", "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
    "livenessProbe": {"path": "/healthz", "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
}


def config_map_name(svc: DroneService) -> str:
    return f"{svc.name}-config"


def secret_provider_class_name(svc: DroneService) -> str:
    return f"{svc.name}-keyvault"


def env_name(service_name: str) -> str:
    return service_name.upper().replace("-", "_")


def config_hash(*parts: Any) -> str:
    """Digest of everything a running pod read at start; in the pod template, so a change rolls the pods."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def service_account(svc: DroneService, *, labels: dict[str, str], owners: list[Obj], client_id: str | None) -> Obj:
    annotations = {WORKLOAD_IDENTITY_CLIENT_ID: client_id} if svc.spec.identity.azure and client_id else None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(svc.name, namespace=svc.namespace, labels=labels, owners=owners, annotations=annotations),
        # The workload identity webhook projects its own token; the Kubernetes API token is never needed.
        "automountServiceAccountToken": False,
    }


def config_map(svc: DroneService, *, data: Mapping[str, str], labels: dict[str, str], owners: list[Obj]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(config_map_name(svc), namespace=svc.namespace, labels=labels, owners=owners),
        "data": dict(sorted(data.items())),
    }


def secret_provider_class(
    svc: DroneService, *, platform: DeliveryPlatform, client_id: str | None, labels: dict[str, str], owners: list[Obj]
) -> Obj | None:
    """Key Vault objects for the Secrets Store CSI driver, fetched with the service's own identity."""
    azure = platform.spec.azure
    extra = databases.key_vault_objects(svc, platform)
    if not (svc.spec.secrets or extra) or azure is None or azure.key_vault_name is None:
        return None
    objects = "".join(
        f"  - |\n    objectName: {secret.name}\n    objectType: {secret.type.value}\n" for secret in svc.spec.secrets
    )
    # Secrets the operator keeps in the vault (the Cosmos DB connection string), under a file name of its own.
    objects += "".join(
        f"  - |\n    objectName: {name}\n    objectAlias: {alias}\n    objectType: secret\n"
        for alias, name in extra.items()
    )
    parameters = {"usePodIdentity": "false", "keyvaultName": azure.key_vault_name, "tenantId": azure.tenant_id}
    if client_id:
        parameters["clientID"] = client_id
    parameters["objects"] = "array:\n" + objects
    return {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": metadata(secret_provider_class_name(svc), namespace=svc.namespace, labels=labels, owners=owners),
        "spec": {"provider": "azure", "parameters": parameters},
    }


def key_vault_volume(svc: DroneService) -> Obj:
    """The Key Vault objects, fetched by the Secrets Store CSI driver with the service's own identity."""
    return {
        "csi": {
            "driver": "secrets-store.csi.k8s.io",
            "readOnly": True,
            "volumeAttributes": {"secretProviderClass": secret_provider_class_name(svc)},
        }
    }


def secret_volume(name: str) -> Obj:
    """A Kubernetes Secret as files readable by the service's group only (development: no Key Vault)."""
    return {"secret": {"secretName": name, "defaultMode": 0o440}}


def _probe(defaults: Obj, override: ProbeOverride | None) -> Obj:
    timings = {k: v for k, v in defaults.items() if k != "path"}
    if override is not None:
        timings |= override.model_dump(by_alias=True, exclude_none=True)
    return {"httpGet": {"path": defaults["path"], "port": "http"}, **timings}


def _spread(svc: DroneService) -> list[Obj]:
    """Spread over zones and nodes; ScheduleAnyway so a cluster without zones (or a full zone) still runs."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(svc.name)},
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def node_placement(platform: DeliveryPlatform) -> Obj:
    """The platform's node selector and tolerations, for every pod it runs (services and stores)."""
    placement = platform.spec.node_placement
    scheduling: Obj = {}
    if placement.node_selector:
        scheduling["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        scheduling["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in placement.tolerations]
    return scheduling


def _spot() -> Obj:
    """Interruptible pods tolerate the spot pool's taint and prefer it; the others never tolerate it."""
    return {
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "preference": {"matchExpressions": [{"key": SPOT_KEY, "operator": "In", "values": ["spot"]}]},
                    }
                ]
            }
        },
    }


def deployment(
    svc: DroneService,
    *,
    platform: DeliveryPlatform,
    labels: dict[str, str],
    owners: list[Obj],
    config_digest: str,
    secrets_volume: Obj | None,
    pod_labels: Mapping[str, str] | None = None,
    redis_secret: str | None = None,
) -> Obj:
    """The hardened Deployment; nothing here is optional, which is the point. `secrets_volume` is the volume
    source mounted read-only at SECRETS_DIR, if any; `pod_labels` are added to the pods' labels (e.g. which
    in-cluster stores admit them); `redis_secret` holds the in-cluster Redis password, mounted at REDIS_DIR."""
    spec = svc.spec
    pod_labels = dict(labels) | dict(pod_labels or {})
    if spec.identity.azure:
        pod_labels[WORKLOAD_IDENTITY_USE] = "true"
    annotations = {CONFIG_HASH: config_digest}
    if platform.spec.observability.metrics.enabled:
        annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(spec.port),
            "prometheus.io/path": "/metrics",
        }

    mounts: list[Obj] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[Obj] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if secrets_volume is not None:
        mounts.append({"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True})
        volumes.append({"name": "secrets", **secrets_volume})
    if redis_secret is not None:
        mounts.append({"name": "redis", "mountPath": REDIS_DIR, "readOnly": True})
        volumes.append({"name": "redis", **secret_volume(redis_secret)})

    container: Obj = {
        "name": CONTAINER,
        "image": spec.image.reference,
        "imagePullPolicy": "IfNotPresent",
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    container |= {
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": config_map_name(svc)}}],
        "resources": spec.resources.model_dump(by_alias=True),
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS} | HARDENED_CONTAINER,
        "startupProbe": _probe(PROBES["startupProbe"], spec.probes.startup),
        "readinessProbe": _probe(PROBES["readinessProbe"], spec.probes.readiness),
        "livenessProbe": _probe(PROBES["livenessProbe"], spec.probes.liveness),
        "volumeMounts": mounts,
    }

    pod_spec: Obj = {
        "serviceAccountName": svc.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "topologySpreadConstraints": _spread(svc),
        "containers": [container],
        "volumes": volumes,
    }
    pod_spec |= node_placement(platform)
    if spec.placement.interruptible:
        pod_spec |= _spot()
        pod_spec["tolerations"] = [*pod_spec.get("tolerations", []), SPOT_TOLERATION]

    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        # No `replicas`: the HPA owns the count. The annotation tells the applier what to start with.
        "metadata": metadata(
            svc.name,
            namespace=svc.namespace,
            labels=labels,
            owners=owners,
            annotations={INITIAL_REPLICAS: str(spec.autoscaling.min_replicas)},
        ),
        "spec": {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(svc.name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {"metadata": {"labels": pod_labels, "annotations": annotations}, "spec": pod_spec},
        },
    }


def service(svc: DroneService, *, labels: dict[str, str], owners: list[Obj]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(svc.name, namespace=svc.namespace, labels=labels, owners=owners),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(svc.name),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(
    svc: DroneService, *, labels: dict[str, str], owners: list[Obj], off_hours_min: int | None = None
) -> Obj:
    """The HPA; `off_hours_min` lowers its minimum during the platform's off-hours (never raises it). Only the
    HPA changes then: the Deployment and its pods stay as they are, and the HPA removes pods as load allows."""
    scaling = svc.spec.autoscaling
    minimum = scaling.min_replicas if off_hours_min is None else min(off_hours_min, scaling.min_replicas)
    annotations = None
    if minimum < scaling.min_replicas:
        annotations = {
            OFF_HOURS: f"minReplicas {minimum} during the platform's off-hours (spec.cost.offHours), "
            f"{scaling.min_replicas} otherwise"
        }
    hpa: Obj = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(svc.name, namespace=svc.namespace, labels=labels, owners=owners, annotations=annotations),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc.name},
            "minReplicas": minimum,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }
    if scaling.scale_down_stabilization_seconds is not None:
        window = scaling.scale_down_stabilization_seconds
        hpa["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": window}}
    return hpa


def disruption_budget(svc: DroneService, *, labels: dict[str, str], owners: list[Obj]) -> Obj:
    """maxUnavailable (at least 1), never minAvailable: a service scaled down to one pod in the off-hours can still
    be evicted, so a node drain goes on instead of waiting for a second pod that never comes."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(svc.name, namespace=svc.namespace, labels=labels, owners=owners),
        "spec": {
            "maxUnavailable": svc.spec.disruption.max_unavailable,
            "selector": {"matchLabels": selector(svc.name)},
            # A crash-looping pod must not block node drains.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }

"""The `DroneService` custom resource: one microservice, in a team namespace, with its dependency graph."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from fabrikam.operator.api.base import (
    API_VERSION,
    DNS_LABEL_PATTERN,
    Autoscaling,
    Conditions,
    ConfigEntry,
    DnsLabel,
    ImageRef,
    KeyVaultObjectName,
    Model,
    ObjectMeta,
    Placement,
    ResourceList,
    Resources,
    cel,
    config_field,
    defaulted,
    rules,
    unique,
)
from fabrikam.operator.api.observability import ServiceLevelObjectives

KIND: Final = "DroneService"
PLURAL = "droneservices"
# `<name>-keyvault` and `<name>-config` must stay within the 63 characters of a label value or DNS label.
MAX_NAME_LENGTH = 47


class Component(StrEnum):
    """The eight bundled workloads, or `custom` for a team's own service."""

    INGESTION = "ingestion"
    WORKFLOW = "workflow"
    DELIVERY = "delivery"
    DRONE_SCHEDULER = "drone-scheduler"
    PACKAGE = "package"
    NOTIFICATION = "notification"
    ACCOUNT = "account"
    DRONE_TELEMETRY = "drone-telemetry"
    CUSTOM = "custom"


BUNDLED_COMPONENTS: tuple[Component, ...] = tuple(c for c in Component if c is not Component.CUSTOM)


class DependencyKind(StrEnum):
    """What a service talks to outside the cluster; decides which egress rules of the platform apply."""

    QUEUE = "queue"
    REDIS = "redis"
    MONGO = "mongo"
    SQL = "sql"
    EXTERNAL = "external"


class PlatformRef(Model):
    """The cluster-scoped DeliveryPlatform this service belongs to."""

    name: DnsLabel = Field(description="metadata.name of the DeliveryPlatform.")


class Call(Model):
    """Another DroneService this one calls over HTTP: opens egress here and ingress there."""

    name: DnsLabel = Field(description="metadata.name of the called DroneService.")
    namespace: DnsLabel | None = Field(None, description="Its namespace; defaults to this service's namespace.")


class Caller(Model):
    """Who may call this service from another namespace (the callee's consent, like Gateway API's ReferenceGrant):
    a whole team, a namespace, or one service of a namespace. Callers in its own namespace never need it."""

    model_config = rules(
        cel(
            "has(self.team) != has(self.__namespace__)",
            "allowedCallers[]: set exactly one of team or namespace",
            reason="FieldValueInvalid",
        ),
        cel(
            "!has(self.name) || has(self.__namespace__)",
            "allowedCallers[].name names a service of allowedCallers[].namespace, which must be set",
            field_path=".name",
            reason="FieldValueRequired",
        ),
    )

    team: DnsLabel | None = Field(None, description="Every service of this team of the platform (spec.teams[].name).")
    namespace: DnsLabel | None = Field(None, description="Every service of this namespace, or with `name` one.")
    name: DnsLabel | None = Field(None, description="One DroneService of `namespace`.")

    @model_validator(mode="after")
    def _one_subject(self) -> Caller:
        if (self.team is None) == (self.namespace is None):
            raise ValueError("allowedCallers[]: set exactly one of team or namespace")
        if self.name is not None and self.namespace is None:
            raise ValueError("allowedCallers[].name names a service of allowedCallers[].namespace, which must be set")
        return self


class QueueAccess(StrEnum):
    """What a service does with a queue; decides Service Bus Data Sender and/or Data Receiver."""

    SEND = "send"
    RECEIVE = "receive"


class Use(Model):
    """A backing resource outside the cluster: a Service Bus queue, Redis, MongoDB, SQL or an external host."""

    model_config = rules(
        cel(
            "!has(self.access) || self.kind == 'queue'",
            "uses[].access is only valid for kind queue",
            field_path=".access",
            reason="FieldValueForbidden",
        )
    )

    kind: DependencyKind = Field(description="queue, redis, mongo, sql or external.")
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$", max_length=253)] = (
        Field(description="Queue name, logical store name, or host name for external.")
    )
    access: list[QueueAccess] | None = Field(
        None,
        min_length=1,
        max_length=2,
        description="For a queue: send, receive or both, granting exactly Azure Service Bus Data Sender and/or "
        "Data Receiver on that queue. Absent: both.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @model_validator(mode="after")
    def _access_only_for_queues(self) -> Use:
        if self.access is not None and self.kind is not DependencyKind.QUEUE:
            raise ValueError("uses[].access is only valid for kind queue")
        return self

    def queue_access(self) -> frozenset[QueueAccess]:
        return frozenset(self.access) if self.access else frozenset(QueueAccess)


class Disruption(Model):
    """How many pods voluntary disruptions (node drains, upgrades) may take at once."""

    max_unavailable: int = Field(1, ge=1, le=100, description="PodDisruptionBudget maxUnavailable.")


class Expose(Model):
    """Publish the service through the platform's ingress (class, host and TLS come from the platform)."""

    model_config = rules(
        cel(
            "!self.stripPrefix || self.pathType == 'Prefix'",
            "expose.stripPrefix needs expose.pathType Prefix",
            field_path=".stripPrefix",
            reason="FieldValueForbidden",
        )
    )

    path: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9/_.-]*$", max_length=256)] = Field(
        description="URL path prefix routed to this service, e.g. /api/deliveries."
    )
    path_type: Literal["Prefix", "Exact"] = Field("Prefix", description="Ingress pathType.")
    strip_prefix: bool = Field(
        False,
        description="Remove `path` before the request reaches the service, so a service serving /v1/... is "
        "published as <path>/v1/... (the bundled services are, under /api/<name>).",
    )

    @model_validator(mode="after")
    def _strip_needs_prefix(self) -> Expose:
        if self.strip_prefix and self.path_type != "Prefix":
            raise ValueError("expose.stripPrefix needs expose.pathType Prefix")
        return self


class Identity(Model):
    """Microsoft Entra Workload ID instead of shared secrets."""

    azure: bool = Field(
        True,
        description="Give the service its own managed identity, federated with its ServiceAccount.",
    )


class SecretType(StrEnum):
    SECRET = "secret"
    KEY = "key"
    CERT = "cert"


class KeyVaultSecret(Model):
    """A Key Vault object mounted read-only as a file by the Secrets Store CSI driver, never a Kubernetes Secret."""

    name: KeyVaultObjectName = Field(description="Key Vault object name; mounted at /mnt/secrets/<name>.")
    type: SecretType = Field(SecretType.SECRET, description="Key Vault object type: secret, key or cert.")


class ProbeOverride(Model):
    """Timing of one probe; the paths are fixed (liveness /healthz, readiness /readyz) by design."""

    initial_delay_seconds: int | None = Field(None, ge=0, le=600)
    period_seconds: int | None = Field(None, ge=1, le=300)
    timeout_seconds: int | None = Field(None, ge=1, le=60)
    failure_threshold: int | None = Field(None, ge=1, le=120)


class Probes(Model):
    """Overrides of the probe timings."""

    startup: ProbeOverride | None = Field(None, description="Startup probe on /healthz.")
    readiness: ProbeOverride | None = Field(None, description="Readiness probe on /readyz (may check dependencies).")
    liveness: ProbeOverride | None = Field(None, description="Liveness probe on /healthz (the process only).")


_DEFAULT_RESOURCES: JsonDict = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}


class DroneServiceSpec(Model):
    """Desired state of one microservice of the drone delivery platform."""

    model_config = rules(
        cel(
            "self.disruption.maxUnavailable < self.autoscaling.minReplicas",
            "spec.disruption.maxUnavailable must be less than spec.autoscaling.minReplicas, "
            "or a drain could evict every pod",
            field_path=".disruption.maxUnavailable",
            reason="FieldValueInvalid",
        )
    )

    platform_ref: PlatformRef = Field(description="The DeliveryPlatform this service belongs to.")
    component: Component = Field(Component.CUSTOM, description="Which bundled workload this is, or custom.")
    image: ImageRef = Field(description="Container image, pinned by digest.")
    command: list[Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=list, max_length=16, description="Entrypoint override."
    )
    args: list[Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=list, max_length=64, description="Arguments."
    )
    port: int = Field(8080, ge=1024, le=65535, description="HTTP port the container listens on (non-root).")
    autoscaling: Autoscaling = defaulted(Autoscaling, "HPA bounds; minReplicas is at least 2.")
    resources: Resources = Field(
        default_factory=lambda: Resources.model_validate(_DEFAULT_RESOURCES),
        description="Requests and limits of the container; both are always set.",
        json_schema_extra={"default": _DEFAULT_RESOURCES},
    )
    disruption: Disruption = defaulted(Disruption, "PodDisruptionBudget.")
    expose: Expose | None = Field(None, description="Publish through the platform ingress; absent: cluster-internal.")
    calls: list[Call] = Field(
        default_factory=list, max_length=32, description="DroneServices this one calls (network policy, env wiring)."
    )
    allowed_callers: list[Caller] = Field(
        default_factory=list,
        max_length=32,
        description="Services of other namespaces that may call this one (a call nobody accepted stays closed). "
        "The bundled services list their callers from the catalog and the platform's services.<name>.allowedCallers.",
    )
    uses: list[Use] = Field(
        default_factory=list, max_length=32, description="Queues, stores and external hosts this one uses."
    )
    identity: Identity = defaulted(Identity, "Workload identity.")
    secrets: list[KeyVaultSecret] = Field(
        default_factory=list,
        max_length=32,
        description="Key Vault objects mounted as files by the Secrets Store CSI driver.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    placement: Placement = defaulted(Placement, "Scheduling preferences.")
    probes: Probes = defaulted(Probes, "Probe timing overrides.")
    config: list[ConfigEntry] = config_field("Non-secret environment variables, delivered through a ConfigMap.")
    slo: ServiceLevelObjectives = defaulted(
        ServiceLevelObjectives, "Availability and latency objectives, alerted on by error-budget burn rate."
    )

    @model_validator(mode="after")
    def _consistent(self) -> DroneServiceSpec:
        if self.disruption.max_unavailable >= self.autoscaling.min_replicas:
            raise ValueError(
                "spec.disruption.maxUnavailable must be less than spec.autoscaling.minReplicas, "
                "or a drain could evict every pod"
            )
        unique(self.secrets, "name", "secrets")
        unique(self.config, "name", "config")
        return self


class DroneServiceStatus(Conditions):
    """Observed state, written only by the operator."""

    ready_replicas: int | None = Field(None, ge=0, description="Ready pods of the Deployment.")
    desired_replicas: int | None = Field(None, ge=0, description="Pods the Deployment (and its HPA) wants.")
    identity_client_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="Client id of the service's Azure managed identity."
    )
    endpoint: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        None, description="In-cluster URL, or the public URL when exposed."
    )
    monitoring: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None,
        description="What watches the service (its alerts, scraping and dashboard), or what is missing for it, e.g. "
        '"PrometheusRule CRD not installed: no alerts".',
    )


class DroneService(Model):
    """DroneService: one microservice of a DeliveryPlatform, reconciled into a hardened Deployment and more."""

    api_version: Literal["dronedelivery.fabrikam.io/v1alpha1"] = API_VERSION
    kind: Literal["DroneService"] = KIND
    metadata: ObjectMeta
    spec: DroneServiceSpec
    status: DroneServiceStatus | None = None

    @model_validator(mode="after")
    def _valid_name(self) -> DroneService:
        if not re.match(DNS_LABEL_PATTERN, self.metadata.name) or len(self.metadata.name) > MAX_NAME_LENGTH:
            raise ValueError(
                f"metadata.name must be a DNS label of at most {MAX_NAME_LENGTH} characters "
                "(lowercase letters, digits and '-', starting with a letter)"
            )
        return self

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    @property
    def redis_key_prefix(self) -> str:
        """The only keys a team's own service may touch in the platform's shared Redis (its ACL key pattern is
        this prefix followed by `*`). `team/` starts no bundled service's key (theirs are `<word>:...`), so no
        namespace name, say `telemetry`, can reach into them."""
        return f"team/{self.namespace}/{self.name}:"


__all__ = [
    "BUNDLED_COMPONENTS",
    "KIND",
    "MAX_NAME_LENGTH",
    "PLURAL",
    "Call",
    "Component",
    "DependencyKind",
    "Disruption",
    "DroneService",
    "DroneServiceSpec",
    "DroneServiceStatus",
    "Expose",
    "Identity",
    "KeyVaultSecret",
    "PlatformRef",
    "ProbeOverride",
    "Probes",
    "ResourceList",
    "SecretType",
    "ServiceLevelObjectives",
    "Use",
]

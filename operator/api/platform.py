"""The `DeliveryPlatform` custom resource: one environment of the drone delivery platform, cluster-scoped."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from fabrikam.operator.api.base import (
    API_VERSION,
    CIDR_PATTERN,
    LABEL_KEY_PATTERN,
    Autoscaling,
    Conditions,
    ConfigEntry,
    DnsLabel,
    Guid,
    Hostname,
    HttpsUrl,
    ImageRef,
    LabelKey,
    LabelValue,
    Model,
    ObjectMeta,
    Placement,
    Quantity,
    Resources,
    cel,
    config_field,
    defaulted,
    rules,
    unique,
)
from fabrikam.operator.api.observability import Observability
from fabrikam.operator.api.profiles import Profile, chosen_by_profile, fill
from fabrikam.operator.api.service import BUNDLED_COMPONENTS, Caller, Component, DependencyKind, QueueAccess

KIND: Final = "DeliveryPlatform"
PLURAL = "deliveryplatforms"
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

Zone = Literal["1", "2", "3"]
IsoDuration = Annotated[str, StringConstraints(pattern=r"^P(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$", max_length=32)]


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


def _all_zones() -> list[Zone]:
    return ["1", "2", "3"]


def _immutable(field: str) -> JsonDict:
    """Where the resources live: a change would leave them behind (Azure Service Operator refuses a change of a
    created resource's name and owner the same way, genruntime.ValidateWriteOnceProperties). A transition rule,
    so it holds only while the field stays: removing spec.azure releases the resources (deletionPolicy) instead."""
    message = (
        f"spec.azure.{field} is immutable: the platform's Azure resources live there; delete the DeliveryPlatform "
        "and re-create it (or remove spec.azure, then add it back) to move them"
    )
    return {"x-kubernetes-validations": [cel("self == oldSelf", message, reason="FieldValueForbidden")]}


SubnetId = Annotated[
    str,
    StringConstraints(
        pattern=r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]+/providers/Microsoft\.Network/"
        r"virtualNetworks/[-\w._]{2,64}/subnets/[-\w._]{1,80}$",
        max_length=400,
    ),
]
Cidr = Annotated[str, StringConstraints(pattern=CIDR_PATTERN, max_length=18)]


class PrivateEndpoints(Model):
    """Private endpoints (opt-in) for every Azure store the platform uses: Service Bus, Redis, Cosmos DB, PostgreSQL
    and the Key Vault. Each store then refuses public network access, its name resolves to an address of the subnet
    through a private DNS zone linked to the virtual network, and the services' egress goes to that subnet only."""

    subnet_id: SubnetId = Field(
        description="Resource id of the subnet the endpoints get their addresses from (in spec.azure.location)."
    )
    subnet_cidr: Cidr = Field(description="That subnet's address prefix: where the services' egress may go.")
    recovery_subnet_id: SubnetId | None = Field(
        None,
        description="With spec.recovery: the subnet (in the secondary location) of the recovery-side Service Bus "
        "namespace's and cache's endpoints, so they are reachable after a failover.",
    )
    recovery_subnet_cidr: Cidr | None = Field(None, description="The recovery subnet's address prefix.")
    dns_zone_resource_group: (
        Annotated[str, StringConstraints(pattern=r"^[-\w._()]*[-\w_()]$", max_length=90)] | None
    ) = Field(
        None,
        description="Resource group of the privatelink DNS zones (a hub's, say); default: spec.azure.resourceGroup.",
    )
    manage_dns_zones: bool = Field(
        True,
        description="Create the privatelink zones when missing and link them to the subnets' virtual networks (never "
        "deleted: other endpoints share them). False: the zones exist and resolve already (a hub's, kept by policy); "
        "the endpoints only register their records in them.",
    )

    @model_validator(mode="after")
    def _recovery_pair(self) -> PrivateEndpoints:
        if (self.recovery_subnet_id is None) != (self.recovery_subnet_cidr is None):
            raise ValueError(
                "spec.azure.privateEndpoints.recoverySubnetId and recoverySubnetCidr go together: the endpoints' "
                "subnet and its address prefix"
            )
        return self


class AzureSpec(Model):
    """Where the platform's Azure resources live. Absent: no Azure provisioning (local or dev clusters)."""

    subscription_id: Guid = Field(
        description="Azure subscription id; immutable.", json_schema_extra=_immutable("subscriptionId")
    )
    tenant_id: Guid = Field(description="Microsoft Entra tenant id.")
    resource_group: Annotated[str, StringConstraints(pattern=r"^[-\w._()]*[-\w_()]$", max_length=90)] = Field(
        description="Resource group of the platform's resources; immutable.",
        json_schema_extra=_immutable("resourceGroup"),
    )
    location: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+$", max_length=32)] = Field(
        description="Azure region, e.g. westus2; immutable.", json_schema_extra=_immutable("location")
    )
    zones: list[Zone] = Field(
        default_factory=_all_zones,
        max_length=3,
        description="Availability zones used by zone-redundant resources.",
        json_schema_extra={"default": ["1", "2", "3"], "x-kubernetes-list-type": "set"},
    )
    tags: dict[str, Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict, max_length=50, description="Tags on every Azure resource (cost allocation)."
    )
    oidc_issuer_url: Annotated[str, StringConstraints(pattern=r"^https://[^\s]+$", max_length=512)] | None = Field(
        None, description="The AKS OIDC issuer URL, for workload identity federated credentials."
    )
    key_vault_name: (
        Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", max_length=24)] | None
    ) = Field(None, description="Key Vault holding the services' secrets (mounted by the CSI driver).")
    deletion_policy: DeletionPolicy = Field(
        DeletionPolicy.RETAIN,
        description="Retain keeps the Azure resources (and their data) when the platform is deleted.",
    )
    private_endpoints: PrivateEndpoints | None = Field(
        None, description="Reach the stores through private endpoints only; absent: their public endpoints."
    )


QueueName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$", max_length=260)]


class Queue(Model):
    """A Service Bus queue with the safety defaults the original deployment lacked."""

    name: QueueName
    max_delivery_count: int = Field(10, ge=1, le=2000, description="Deliveries before dead-lettering.")
    lock_duration: IsoDuration = Field("PT1M", description="Peek-lock duration (ISO 8601).")
    default_message_time_to_live: IsoDuration = Field("P14D", description="Message TTL (ISO 8601).")
    duplicate_detection: bool = Field(True, description="Drop re-sent messages with the same MessageId.")
    duplicate_detection_window: IsoDuration = Field("PT10M", description="Duplicate detection window.")
    dead_lettering_on_message_expiration: bool = Field(True, description="Expired messages go to the DLQ.")
    partitioned: bool | None = Field(
        None,
        description="Spread the queue over several brokers for throughput. Standard: per queue (absent: true). "
        "Premium: the namespace partitions all of its queues or none (messaging.serviceBus.partitions); a value "
        "given here must agree.",
    )


_PARTITIONS_NEED_PREMIUM = (
    "messaging.serviceBus.partitions above 1 needs sku Premium and a capacity that is a multiple of it "
    "(the messaging units are spread evenly over the partitions)"
)
_PREMIUM_PARTITIONS_ALL = (
    "messaging.serviceBus.queues[].partitioned: a Premium namespace partitions all of its queues or none; set "
    "messaging.serviceBus.partitions to 2 or 4 for partitioned queues, or leave partitioned out"
)


class ServiceBusSpec(Model):
    """Azure Service Bus namespace for the platform's queues."""

    model_config = rules(
        cel(
            "!has(self.capacity) || !has(self.sku) || self.sku == 'Premium'",
            "messaging.serviceBus.capacity is only valid with sku Premium",
            field_path=".capacity",
            reason="FieldValueForbidden",
        ),
        cel(
            "self.partitions == 1 || ((!has(self.sku) || self.sku == 'Premium') && "
            "(has(self.capacity) ? self.capacity : 1) % self.partitions == 0)",
            _PARTITIONS_NEED_PREMIUM,
            field_path=".partitions",
            reason="FieldValueInvalid",
        ),
        cel(
            "(has(self.sku) && self.sku != 'Premium') || !has(self.queues) "
            "|| self.queues.all(q, !has(q.partitioned) || q.partitioned == (self.partitions > 1))",
            _PREMIUM_PARTITIONS_ALL,
            field_path=".queues",
            reason="FieldValueInvalid",
        ),
    )

    sku: Literal["Standard", "Premium"] = Field(
        "Premium", description="Premium: isolation, zones, partitions.", json_schema_extra=chosen_by_profile
    )
    capacity: Literal[1, 2, 4, 8, 16] | None = Field(None, description="Premium messaging units.")
    partitions: Literal[1, 2, 4] = Field(
        1,
        description="Premium: partitions of the namespace (premiumMessagingPartitions), which then partitions every "
        "queue; fixed when the namespace is created, and capacity must be a multiple of it.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self == oldSelf",
                    "messaging.serviceBus.partitions is fixed when the namespace is created",
                    reason="FieldValueForbidden",
                )
            ]
        },
    )
    zone_redundant: bool = Field(
        True, description="Spread the namespace over availability zones.", json_schema_extra=chosen_by_profile
    )
    queues: list[Queue] = Field(
        default_factory=list,
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _consistent(self) -> ServiceBusSpec:
        if self.capacity is not None and self.sku != "Premium":
            raise ValueError("messaging.serviceBus.capacity is only valid with sku Premium")
        if self.partitions > 1 and (self.sku != "Premium" or (self.capacity or 1) % self.partitions):
            raise ValueError(_PARTITIONS_NEED_PREMIUM)
        partitioned = self.partitions > 1
        if self.sku == "Premium" and any(q.partitioned not in (None, partitioned) for q in self.queues):
            raise ValueError(_PREMIUM_PARTITIONS_ALL)
        unique(self.queues, "name", "messaging.serviceBus.queues")
        return self


class Messaging(Model):
    """Asynchronous messaging between services."""

    service_bus: ServiceBusSpec | None = Field(None, description="Absent: Redis Streams (local development).")


class RedisSpec(Model):
    """Azure Cache for Redis, TLS only."""

    model_config = rules(
        cel(
            "!has(self.sku) || self.sku == 'Premium' || (!has(self.zones) && !has(self.shardCount))",
            "cache.redis.zones and cache.redis.shardCount need sku Premium",
            reason="FieldValueForbidden",
        )
    )

    sku: Literal["Basic", "Standard", "Premium"] = Field(
        "Premium", description="Premium: zones and clustering.", json_schema_extra=chosen_by_profile
    )
    capacity: int = Field(
        1,
        ge=0,
        le=6,
        description="Cache size within the SKU family (C0-C6 or P1-P5).",
        json_schema_extra=chosen_by_profile,
    )
    shard_count: int | None = Field(None, ge=1, le=10, description="Clustering shards (Premium).")
    zones: list[Zone] | None = Field(
        None, max_length=3, description="Zones (Premium).", json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    minimum_tls_version: Literal["1.2"] = Field("1.2", description="The non-TLS port is never enabled.")

    @model_validator(mode="after")
    def _premium_features(self) -> RedisSpec:
        if self.sku != "Premium" and (self.zones is not None or self.shard_count is not None):
            raise ValueError("cache.redis.zones and cache.redis.shardCount need sku Premium")
        return self


class Cache(Model):
    """Caching."""

    redis: RedisSpec | None = Field(None, description="Azure Cache for Redis.")


class CosmosDbSpec(Model):
    """Azure Cosmos DB for MongoDB (RU) for the bundled services' `mongo` dependencies (package). Its connection
    string carries the account key (the MongoDB RU API has no Microsoft Entra sign-in), so the operator keeps it in
    the platform's Key Vault, from where the CSI driver mounts it as a file: spec.azure.keyVaultName is required."""

    model_config = rules(
        cel(
            "!has(self.maxThroughput) || self.maxThroughput % 1000 == 0",
            "databases.cosmosDb.maxThroughput must be a multiple of 1000 RU/s (autoscale steps)",
            field_path=".maxThroughput",
            reason="FieldValueInvalid",
        )
    )

    max_throughput: int = Field(
        4000,
        ge=1000,
        le=1000000,
        description="Autoscale maximum RU/s of each database (scales between 10% of it and it), instead of a fixed "
        "provisioned throughput paid around the clock.",
        json_schema_extra=chosen_by_profile,
    )
    zone_redundant: bool = Field(
        True, description="Replicas across the region's availability zones.", json_schema_extra=chosen_by_profile
    )
    backup_tier: Literal["Continuous7Days", "Continuous30Days"] = Field(
        "Continuous30Days",
        description="Continuous backup: point-in-time restore within 7 or 30 days.",
        json_schema_extra=chosen_by_profile,
    )
    server_version: Literal["4.2", "5.0", "6.0", "7.0"] = Field("7.0", description="MongoDB wire protocol version.")
    connection_key: Literal["Primary", "Secondary"] = Field(
        "Primary",
        description="Which account key the services' connection string carries. To rotate: regenerate the unused "
        "key, switch to it here (the operator rewrites the Key Vault secret and rolls the pods), then regenerate "
        "the other (docs/azure-databases.md).",
    )

    @model_validator(mode="after")
    def _autoscale_steps(self) -> CosmosDbSpec:
        if self.max_throughput % 1000:
            raise ValueError("databases.cosmosDb.maxThroughput must be a multiple of 1000 RU/s (autoscale steps)")
        return self


class PostgresSpec(Model):
    """Azure Database for PostgreSQL flexible server for the bundled services' `sql` dependencies (account): its
    own server (never shared with another application), Microsoft Entra authentication only (no password exists)."""

    model_config = rules(
        cel(
            "!has(self.tier) || self.tier != 'Burstable' || !has(self.highAvailability) "
            "|| self.highAvailability == 'Disabled'",
            "databases.postgres.highAvailability needs tier GeneralPurpose or MemoryOptimized (Burstable has none)",
            field_path=".highAvailability",
            reason="FieldValueForbidden",
        )
    )

    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = Field(
        "GeneralPurpose",
        description="Compute tier; absent with skuName set: the tier of that size.",
        json_schema_extra=chosen_by_profile,
    )
    sku_name: Annotated[str, StringConstraints(pattern=r"^Standard_[A-Za-z0-9_]+$", max_length=64)] = Field(
        "Standard_D2ds_v5",
        description="Compute size within the tier, e.g. Standard_B1ms or Standard_D2ds_v5; absent: the tier's "
        "smallest general size.",
        json_schema_extra=chosen_by_profile,
    )
    version: Literal["14", "15", "16", "17"] = Field("16", description="PostgreSQL major version.")
    storage_gb: Literal[32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767] = Field(
        128, description="Storage size; it grows automatically when nearly full."
    )
    backup_retention_days: int = Field(
        14, ge=7, le=35, description="Point-in-time restore window, in days.", json_schema_extra=chosen_by_profile
    )
    geo_redundant_backup: bool = Field(
        False, description="Backups copied to the paired region (restore there after a regional outage)."
    )
    high_availability: Literal["Disabled", "SameZone", "ZoneRedundant"] = Field(
        "ZoneRedundant",
        description="A standby server with synchronous replication and automatic failover.",
        json_schema_extra=chosen_by_profile,
    )

    @model_validator(mode="after")
    def _burstable(self) -> PostgresSpec:
        if self.tier == "Burstable" and self.high_availability != "Disabled":
            raise ValueError(
                "databases.postgres.highAvailability needs tier GeneralPurpose or MemoryOptimized (Burstable has none)"
            )
        return self


class Databases(Model):
    """The platform's Azure databases."""

    cosmos_db: CosmosDbSpec | None = Field(None, description="Azure Cosmos DB for MongoDB for `mongo` dependencies.")
    postgres: PostgresSpec | None = Field(
        None, description="Azure Database for PostgreSQL flexible server for `sql` dependencies."
    )


class RecoverySpec(Model):
    """Disaster recovery targets (seed: RTO 4 h, RPO 1 h) and where the platform fails over to. The operator
    provisions what each store needs to meet them in the secondary location, and reports per store whether it does."""

    rpo: IsoDuration = Field("PT1H", description="Recovery point objective: data that may be lost (ISO 8601).")
    rto: IsoDuration = Field("PT4H", description="Recovery time objective: time to serve again (ISO 8601).")
    secondary_location: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+$", max_length=32)] = Field(
        description="The Azure region failed over to, e.g. the primary's paired region (westus2 -> westcentralus); "
        "immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self == oldSelf",
                    "spec.recovery.secondaryLocation is immutable: the paired stores live there; remove "
                    "spec.recovery (the partners are released by deletionPolicy), then add it back to move them",
                    reason="FieldValueForbidden",
                )
            ]
        },
    )


Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", max_length=5)]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class BudgetSpec(Model):
    """An Azure cost budget on the platform's resource group, with e-mail alerts (seed: costs seen only on the
    invoice)."""

    amount: int = Field(ge=1, le=100_000_000, description="Monthly amount, in the billing account's currency.")
    contact_emails: list[Email] = Field(
        min_length=1,
        max_length=50,
        description="Who is alerted.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    thresholds: list[Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=lambda: [80, 100],
        min_length=1,
        max_length=4,
        description="Percentages of the amount actually spent that alert; a forecast over 100% alerts too.",
        json_schema_extra={"default": [80, 100], "x-kubernetes-list-type": "set"},
    )


def _working_days() -> list[Weekday]:
    return ["Mon", "Tue", "Wed", "Thu", "Fri"]


class OffHours(Model):
    """When a non-production platform scales its services down (seed: dev and QA ran production's size all
    night). Every service's autoscaler minimum drops to `minReplicas` from `start` to `end` on the listed days
    (a window past midnight ends the next morning); the autoscalers scale up again with load at any time."""

    start: ClockTime = Field(description="Local time the off-hours begin, e.g. 19:00.")
    end: ClockTime = Field(description="Local time they end, e.g. 07:00 (the next day when before start).")
    days: list[Weekday] = Field(
        default_factory=_working_days,
        min_length=1,
        max_length=7,
        description="Days the off-hours begin on; a weekend not listed is off-hours all day when weekends is true.",
        json_schema_extra={"default": ["Mon", "Tue", "Wed", "Thu", "Fri"], "x-kubernetes-list-type": "set"},
    )
    weekends: bool = Field(True, description="Saturday and Sunday are off-hours all day (unless listed in days).")
    time_zone: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", max_length=64)] = Field(
        "UTC", description="IANA time zone of start and end, e.g. Europe/Berlin."
    )
    min_replicas: int = Field(1, ge=1, le=100, description="The autoscalers' minimum during off-hours.")


class CostSpec(Model):
    """What the platform may cost."""

    budget: BudgetSpec | None = Field(None, description="A monthly Azure budget with alerts (needs spec.azure).")
    off_hours: OffHours | None = Field(None, description="Scale-down outside working hours (not in production).")


class Quota(Model):
    """Namespace ceiling for a team; also bounds requests, so one team cannot starve the others."""

    cpu: Quantity = Field("16", description="Total CPU (requests and limits) of the team namespace.")
    memory: Quantity = Field("32Gi", description="Total memory (requests and limits) of the team namespace.")
    pods: int = Field(100, ge=1, le=10000, description="Maximum number of pods.")


def _not_reserved(field: str) -> JsonDict:
    return cel(
        "!(self in " + str(list(RESERVED_NAMESPACES)) + ") && !self.startsWith('kube-')",
        f"{field} must not be default or a kube-* system namespace",
        reason="FieldValueForbidden",
    )


class QueueGrant(Model):
    """A queue a team's own services may use, with the access granted; a queue no bundled service uses is created
    for it (with Service Bus). The bundled services' queues are reserved to them unless granted here."""

    name: QueueName = Field(description="Queue name.")
    access: list[QueueAccess] = Field(
        min_length=1,
        max_length=2,
        description="send and/or receive.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class Team(Model):
    """A development team: its own namespace, its Entra groups bound to a namespaced role, its quota."""

    name: DnsLabel = Field(description="Team name, used in labels.")
    namespace: DnsLabel = Field(
        description="The team's namespace, created by the operator.",
        json_schema_extra={"x-kubernetes-validations": [_not_reserved("teams[].namespace")]},
    )
    groups: list[Guid] = Field(
        default_factory=list,
        max_length=16,
        description="Entra group object ids bound to the team's namespaced role (never cluster-admin).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    cost_center: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", max_length=63)
    ] = Field(description="Cost center label on every object of the team, for cost allocation.")
    quota: Quota = defaulted(Quota, "ResourceQuota of the team namespace.")
    services: list[Component] = Field(
        default_factory=list,
        max_length=8,
        description="Bundled services this team owns (not custom); they are deployed into its namespace.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "x-kubernetes-validations": [
                cel(
                    "!('custom' in self)",
                    "teams[].services lists bundled services only; custom services are DroneServices of the team",
                    reason="FieldValueForbidden",
                )
            ],
        },
    )

    queues: list[QueueGrant] = Field(
        default_factory=list,
        max_length=32,
        description="Queues the team's own (custom) services may send to or receive from.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _consistent(self) -> Team:
        if self.namespace in RESERVED_NAMESPACES or self.namespace.startswith("kube-"):
            raise ValueError("teams[].namespace must not be default or a kube-* system namespace")
        unique(self.queues, "name", "teams[].queues")
        if Component.CUSTOM in self.services:
            raise ValueError(
                "teams[].services lists bundled services only; custom services are DroneServices of the team"
            )
        return self


class BundledService(Model):
    """Overrides of one bundled service; a block given here replaces the default block as a whole."""

    enabled: bool = Field(True, description="Deploy this service.")
    image: ImageRef | None = Field(None, description="Image override; default: the platform image.")
    autoscaling: Autoscaling | None = Field(None, description="HPA bounds override.")
    resources: Resources | None = Field(None, description="Requests and limits override.")
    placement: Placement | None = Field(None, description="Placement override.")
    config: list[ConfigEntry] = config_field("Extra non-secret environment variables.")
    allowed_callers: list[Caller] = Field(
        default_factory=list,
        max_length=32,
        description="Services of other namespaces that may call this bundled service, besides the bundled callers.",
    )


def bundled_field(component: Component) -> str:
    head, *rest = component.value.split("-")
    return head + "".join(part.title() for part in rest)


class BundledServices(Model):
    """The eight bundled workloads, each enabled by default."""

    ingestion: BundledService = defaulted(BundledService)
    workflow: BundledService = defaulted(BundledService)
    delivery: BundledService = defaulted(BundledService)
    drone_scheduler: BundledService = defaulted(BundledService)
    package: BundledService = defaulted(BundledService)
    notification: BundledService = defaulted(BundledService)
    account: BundledService = defaulted(BundledService)
    drone_telemetry: BundledService = defaulted(BundledService)

    def of(self, component: Component) -> BundledService:
        override: BundledService = getattr(self, component.value.replace("-", "_"))
        return override

    @staticmethod
    def all_disabled() -> dict[str, dict[str, bool]]:
        """`spec.services` of a platform that runs only the teams' own services (benchmarks, tests)."""
        return {bundled_field(component): {"enabled": False} for component in BUNDLED_COMPONENTS}


class RateLimit(Model):
    """Per-client rate limit at the ingress controller."""

    requests_per_second: int = Field(100, ge=1, le=100000)
    burst_multiplier: int = Field(5, ge=1, le=100)


class IngressSpec(Model):
    """How exposed services are published."""

    class_name: Hostname = Field(
        "webapprouting.kubernetes.azure.com", description="IngressClass (AKS application routing by default)."
    )
    host: Hostname | None = Field(None, description="Public host name; required when a service is exposed.")
    controller_namespace: DnsLabel = Field(
        "app-routing-system", description="Namespace of the ingress controller pods (allowed in by NetworkPolicy)."
    )
    cluster_issuer: DnsLabel = Field(
        "letsencrypt", description="cert-manager ClusterIssuer issuing (and rotating) the TLS certificates."
    )
    rate_limit: RateLimit = defaulted(RateLimit, "Rate limit per client IP.")


class EgressKind(StrEnum):
    """What an egress rule is for: a dependency kind, the Entra token endpoint, or telemetry export."""

    QUEUE = DependencyKind.QUEUE.value
    REDIS = DependencyKind.REDIS.value
    MONGO = DependencyKind.MONGO.value
    SQL = DependencyKind.SQL.value
    EXTERNAL = DependencyKind.EXTERNAL.value
    KEY_VAULT = "keyvault"
    IDENTITY = "identity"
    OBSERVABILITY = "observability"


class EgressRule(Model):
    """Destinations outside the cluster (Azure endpoints, third parties) that services may reach."""

    name: DnsLabel
    cidrs: list[Annotated[str, StringConstraints(pattern=CIDR_PATTERN, max_length=18)]] = Field(
        min_length=1, max_length=32, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        min_length=1, max_length=16, description="TCP ports.", json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    kinds: list[EgressKind] = Field(
        default_factory=list,
        max_length=8,
        description="Dependency kinds this rule serves; a service gets the rule when it uses one. Empty: all.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class Network(Model):
    """Cluster network rules shared by every service."""

    dns_namespace: DnsLabel = Field("kube-system", description="Namespace of the cluster DNS (k8s-app=kube-dns).")
    egress: list[EgressRule] = Field(
        default_factory=list,
        max_length=32,
        description="Allowed egress outside the cluster; everything else is denied.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _unique(self) -> Network:
        unique(self.egress, "name", "network.egress")
        return self


class BackingStore(Model):
    """One in-cluster store: a single-replica StatefulSet with its own PersistentVolumeClaim."""

    image: ImageRef = Field(description="The store's image, pinned by digest (built from Debian packages).")
    storage: Quantity = Field("1Gi", description="Size of the store's PersistentVolumeClaim.")
    resources: Resources | None = Field(None, description="Requests and limits; default: small development sizes.")


class MailSink(Model):
    """An SMTP server that keeps every e-mail it receives, so notifications can be read instead of sent."""

    image: ImageRef = Field(description="The mail sink's image, pinned by digest.")


class InClusterBacking(Model):
    """Backing services run by the operator inside the cluster, for development and test environments.

    Every service is wired to them through its environment (the way a Radius recipe or a Dapr component binds a
    resource to an application): Redis for messaging and state, a MongoDB-wire store (FerretDB) for `mongo`
    dependencies, PostgreSQL for `sql` dependencies, and an optional SMTP sink for e-mail.
    """

    namespace: DnsLabel = Field(
        "fabrikam-backing",
        description="Namespace of the stores, restricted and denied to all but their clients.",
        json_schema_extra={"x-kubernetes-validations": [_not_reserved("spec.backing.inCluster.namespace")]},
    )
    storage_class_name: DnsLabel | None = Field(
        None, description="StorageClass of the stores' volumes; default: the cluster's default class."
    )
    redis: BackingStore = Field(description="Redis: the message broker (Redis Streams) and the services' state.")
    mongo: BackingStore = Field(description="FerretDB (MongoDB wire protocol) for `mongo` dependencies.")
    postgres: BackingStore = Field(description="PostgreSQL for `sql` dependencies.")
    mail: MailSink | None = Field(None, description="SMTP sink the notification service sends e-mail to.")
    node_maintenance: bool = Field(
        False,
        description="Each store is one pod on a volume of its node, so its disruption budget refuses eviction and a "
        "`kubectl drain` of that node waits. true lifts those budgets for planned node maintenance: the drain "
        "evicts the stores, which are down until their node is back (CloudNativePG's nodeMaintenanceWindow).",
    )

    @model_validator(mode="after")
    def _not_reserved(self) -> InClusterBacking:
        if self.namespace in RESERVED_NAMESPACES or self.namespace.startswith("kube-"):
            raise ValueError("spec.backing.inCluster.namespace must not be default or a kube-* system namespace")
        return self


class Toleration(Model):
    """A taint the platform's pods tolerate (a dedicated node pool)."""

    key: LabelKey | None = Field(None, description="Taint key; absent with operator Exists: every taint.")
    operator: Literal["Equal", "Exists"] = Field("Equal")
    value: LabelValue | None = Field(None, description="Taint value (operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(None, description="Absent: all.")


class NodePlacement(Model):
    """Which nodes run the platform's pods (services and in-cluster stores), e.g. a dedicated AKS node pool."""

    node_selector: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Node labels every pod requires.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"self.all(k, k.matches('{LABEL_KEY_PATTERN}'))",
                    "spec.nodePlacement.nodeSelector: keys must be label keys ([prefix/]name)",
                    reason="FieldValueInvalid",
                )
            ]
        },
    )

    @model_validator(mode="after")
    def _label_keys(self) -> NodePlacement:
        for key in self.node_selector:
            if not re.fullmatch(LABEL_KEY_PATTERN, key) or len(key) > 316:
                raise ValueError(f"spec.nodePlacement.nodeSelector: {key!r} is not a label key ([prefix/]name)")
        return self

    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=16, description="Taints every pod tolerates (the pool's taint)."
    )


class EmailProvider(Model):
    """How the notification service sends e-mail: SMTP (the in-cluster sink in development) or SendGrid when the
    `sendgrid-api-key` secret is mounted."""

    from_address: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)] = Field(
        "deliveries@fabrikam.example", description="Sender address of every notification e-mail."
    )


class SmsProvider(Model):
    """Twilio for text messages; the auth token is the `twilio-auth-token` secret (a file, never a value here)."""

    twilio_account_sid: Annotated[str, StringConstraints(pattern=r"^AC[0-9a-f]{32}$", max_length=34)] = Field(
        description="The Twilio account SID (not a secret)."
    )
    from_number: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$", max_length=16)] = Field(
        description="Sender number in E.164 form, e.g. +14255550100."
    )


class WeatherProvider(Model):
    """The weather API the drone scheduler asks before flying (it falls back to a safe verdict when it fails)."""

    url: HttpsUrl = Field(description="Base URL of the weather API; its host is added to the scheduler's egress.")


class ThirdParty(Model):
    """Plain settings of the third-party services the bundled services call. Their secrets are files: Key Vault
    objects on Azure (`spec.azure.keyVaultName`), the service's generated Secret in development."""

    email: EmailProvider = defaulted(EmailProvider, "E-mail notifications.")
    sms: SmsProvider | None = Field(None, description="Text-message notifications; absent: e-mail only.")
    weather: WeatherProvider | None = Field(None, description="Flight weather; absent: every pickup is flyable.")


class Fleet(Model):
    """What the platform expects of its drones: telemetry beyond it is refused as implausible (spoofing)."""

    max_speed_mps: float = Field(
        60.0, ge=1, le=100000, description="Fastest credible drone speed; a simulated fleet sped up needs more."
    )


class Backing(Model):
    """Where the services' stores come from when Azure does not provide them."""

    in_cluster: InClusterBacking | None = Field(
        None, description="Stores run in the cluster (development and test); absent: Azure or nothing."
    )


def _profile_rules() -> list[JsonDict]:
    """What a store asks of a SKU it leaves to the profile: only production's Premium has capacity, partitions, zones
    and shards (spec.profile absent is production)."""
    production = "!has(self.profile) || self.profile == 'production'"
    bus, redis, server = "self.messaging.serviceBus", "self.cache.redis", "self.databases.postgres"
    return [
        cel(
            f"!has(self.messaging) || !has({bus}) || has({bus}.sku) || (!has({bus}.capacity) "
            f"&& (!has({bus}.partitions) || {bus}.partitions == 1)) || {production}",
            "messaging.serviceBus.capacity and partitions need sku Premium: set messaging.serviceBus.sku, or use "
            "profile production",
            field_path=".messaging.serviceBus.sku",
            reason="FieldValueRequired",
        ),
        cel(
            f"!has(self.cache) || !has({redis}) || has({redis}.sku) || (!has({redis}.zones) "
            f"&& !has({redis}.shardCount)) || {production}",
            "cache.redis.zones and cache.redis.shardCount need sku Premium: set cache.redis.sku, or use profile "
            "production",
            field_path=".cache.redis.sku",
            reason="FieldValueRequired",
        ),
        cel(
            f"!has(self.databases) || !has({server}) || has({server}.tier) || has({server}.skuName) "
            f"|| !has({server}.highAvailability) || {server}.highAvailability == 'Disabled' "
            "|| !has(self.profile) || self.profile != 'development'",
            "databases.postgres.highAvailability needs a tier other than Burstable, which profile development "
            "chooses: set databases.postgres.tier",
            field_path=".databases.postgres.tier",
            reason="FieldValueRequired",
        ),
    ]


def _ownership_rules() -> list[JsonDict]:
    """Every enabled bundled service is owned by exactly one team, checked by the apiserver."""
    rules = []
    for component in BUNDLED_COMPONENTS:
        field = bundled_field(component)
        rules.append(
            cel(
                f"(has(self.services) && has(self.services.{field}) && !self.services.{field}.enabled)"
                f" || self.teams.exists_one(t, has(t.services) && '{component.value}' in t.services)",
                f"spec.teams[].services: the enabled bundled service {component.value!r} "
                "must be owned by exactly one team",
                field_path=".teams",
                reason="FieldValueInvalid",
            )
        )
    return rules


class AuthSpec(Model):
    """Who issues the bearer tokens every service checks (OAuth2/OIDC; Microsoft Entra ID in Azure)."""

    issuer_url: Annotated[str, StringConstraints(pattern=r"^https://[^\s]+$", max_length=512)] = Field(
        description="OIDC issuer, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0; its JWKS signs the tokens."
    )
    audience: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="The audience the tokens must carry (the API's application id URI or client id)."
    )
    business_claim: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]+$", max_length=128)] = Field(
        "business_id",
        description="Token claim naming the caller's business; in Entra ID an optional claim from a directory "
        "extension attribute, e.g. extn.businessId (see docs/auth.md).",
    )


# A registry host (with an optional port), optionally followed by a path, ending in "/" so a prefix never matches
# a longer registry name (fabrikam.azurecr.io/ must not admit fabrikam.azurecr.io.evil.example/).
RegistryPrefix = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*/$", max_length=255),
]


_ON_CALL_NEEDS_VAULT = (
    "spec.observability.onCall needs spec.azure.keyVaultName: the PagerDuty or Opsgenie key is read from there"
)


_APPLICATION_INSIGHTS_NEEDS_AZURE = (
    "spec.observability.applicationInsights needs spec.azure: the component is provisioned in its resource group"
)


class DeliveryPlatformSpec(Model):
    """Desired state of one environment of the drone delivery platform."""

    model_config = rules(
        *_ownership_rules(),
        cel(
            "!has(self.databases) || (!has(self.databases.cosmosDb) && !has(self.databases.postgres))"
            " || has(self.azure)",
            "spec.databases needs spec.azure: the databases are Azure resources",
            field_path=".databases",
            reason="FieldValueRequired",
        ),
        *_profile_rules(),
        cel(
            "!has(self.cost) || !has(self.cost.offHours) || (has(self.profile) && self.profile != 'production')",
            "spec.cost.offHours scales down a staging or development platform only: production keeps its capacity",
            field_path=".cost.offHours",
            reason="FieldValueForbidden",
        ),
        cel(
            "!has(self.cost) || !has(self.cost.budget) || has(self.azure)",
            "spec.cost.budget needs spec.azure: the budget is on the platform's resource group",
            field_path=".cost.budget",
            reason="FieldValueRequired",
        ),
        cel(
            "!has(self.recovery) || (has(self.azure) && self.recovery.secondaryLocation != self.azure.location)",
            "spec.recovery needs spec.azure, and spec.recovery.secondaryLocation must differ from spec.azure.location",
            field_path=".recovery",
            reason="FieldValueInvalid",
        ),
        cel(
            "!has(self.databases) || !has(self.databases.cosmosDb)"
            " || (has(self.azure) && has(self.azure.keyVaultName))",
            "spec.databases.cosmosDb needs spec.azure.keyVaultName: the connection string (it holds the account key) "
            "is kept there",
            field_path=".databases.cosmosDb",
            reason="FieldValueRequired",
        ),
        cel(
            "!has(self.observability) || !has(self.observability.onCall)"
            " || (has(self.azure) && has(self.azure.keyVaultName))",
            _ON_CALL_NEEDS_VAULT,
            field_path=".observability.onCall",
            reason="FieldValueRequired",
        ),
        cel(
            "!has(self.observability) || !has(self.observability.applicationInsights) || has(self.azure)",
            _APPLICATION_INSIGHTS_NEEDS_AZURE,
            field_path=".observability.applicationInsights",
            reason="FieldValueRequired",
        ),
        cel(
            # `in map(...)`: the apiserver estimates `exists` over the teams beyond its cost budget.
            "!has(self.backing.inCluster) || !(self.backing.inCluster.namespace in self.teams.map(t, t.namespace))",
            "spec.backing.inCluster.namespace must not be a team's namespace",
            field_path=".backing.inCluster.namespace",
            reason="FieldValueInvalid",
        ),
    )

    image: ImageRef = Field(description="Image of the bundled services (one image, `fabrikam-svc <service>`).")
    profile: Profile = Field(
        Profile.PRODUCTION,
        description="What the Azure stores default to where the spec leaves them out: production (Premium, zone "
        "redundant, high availability), staging or development (smaller, single-zone, cheaper); spec values win.",
    )
    allowed_registries: list[RegistryPrefix] = Field(
        default_factory=list,
        max_length=16,
        description="Image repositories every DroneService of the platform must come from (prefixes such as "
        "fabrikam.azurecr.io/ or fabrikam.azurecr.io/shipping/); empty: the registry of spec.image only.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    azure: AzureSpec | None = Field(None, description="Azure resources; absent: no Azure provisioning.")
    messaging: Messaging = defaulted(Messaging, "Service Bus.")
    cache: Cache = defaulted(Cache, "Azure Cache for Redis.")
    databases: Databases = defaulted(Databases, "Azure Cosmos DB and Azure Database for PostgreSQL.")
    cost: CostSpec = defaulted(CostSpec, "Budget and off-hours scale-down.")
    recovery: RecoverySpec | None = Field(
        None, description="Disaster recovery targets and the secondary region; absent: one region only."
    )
    teams: list[Team] = Field(
        min_length=1,
        max_length=16,
        description="Teams, each with its own namespace.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-validations": [
                cel(
                    "self.map(t, t.namespace).all(n, self.exists_one(u, u.namespace == n))",
                    "spec.teams[].namespace must be unique",
                    reason="FieldValueDuplicate",
                )
            ],
        },
    )
    services: BundledServices = defaulted(BundledServices, "Overrides of the eight bundled services.")
    ingress: IngressSpec = defaulted(IngressSpec, "Ingress for exposed services.")
    observability: Observability = defaulted(Observability, "Telemetry, alerts, dashboards and on-call.")
    auth: AuthSpec | None = Field(
        None, description="Token issuer the services trust; absent: services run without token checks (local only)."
    )
    network: Network = defaulted(Network, "Network policy inputs.")
    backing: Backing = defaulted(Backing, "In-cluster backing services for development and test environments.")
    node_placement: NodePlacement = defaulted(NodePlacement, "Nodes that run the platform's pods.")
    third_party: ThirdParty = defaulted(ThirdParty, "E-mail, SMS and weather providers of the bundled services.")
    fleet: Fleet = defaulted(Fleet, "What the platform expects of its drones.")

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        return fill(data)

    @model_validator(mode="after")
    def _consistent(self) -> DeliveryPlatformSpec:
        if self.cost.off_hours is not None and self.profile is Profile.PRODUCTION:
            raise ValueError(
                "spec.cost.offHours scales down a staging or development platform only: production keeps its capacity"
            )
        if self.cost.budget is not None and self.azure is None:
            raise ValueError("spec.cost.budget needs spec.azure: the budget is on the platform's resource group")
        if self.recovery is not None and (
            self.azure is None or self.recovery.secondary_location == self.azure.location
        ):
            raise ValueError(
                "spec.recovery needs spec.azure, and spec.recovery.secondaryLocation must differ from "
                "spec.azure.location"
            )
        databases = self.databases
        if (databases.cosmos_db is not None or databases.postgres is not None) and self.azure is None:
            raise ValueError("spec.databases needs spec.azure: the databases are Azure resources")
        if databases.cosmos_db is not None and (self.azure is None or self.azure.key_vault_name is None):
            raise ValueError(
                "spec.databases.cosmosDb needs spec.azure.keyVaultName: the connection string (it holds the account "
                "key) is kept there"
            )
        if self.observability.on_call is not None and (self.azure is None or self.azure.key_vault_name is None):
            raise ValueError(_ON_CALL_NEEDS_VAULT)
        if self.observability.application_insights is not None and self.azure is None:
            raise ValueError(_APPLICATION_INSIGHTS_NEEDS_AZURE)
        self._private_endpoints_possible()
        unique(self.teams, "name", "spec.teams")
        unique(self.teams, "namespace", "spec.teams")
        backing = self.backing.in_cluster
        if backing is not None and any(t.namespace == backing.namespace for t in self.teams):
            raise ValueError("spec.backing.inCluster.namespace must not be a team's namespace")
        for component in BUNDLED_COMPONENTS:
            owners = [t.name for t in self.teams if component.value in t.services]
            if self.services.of(component).enabled and len(owners) != 1:
                raise ValueError(
                    f"spec.teams[].services: the enabled bundled service {component.value!r} "
                    f"must be owned by exactly one team (owners: {owners or 'none'})"
                )
        return self

    def _private_endpoints_possible(self) -> None:
        private = self.azure.private_endpoints if self.azure is not None else None
        if private is None:
            return
        bus = self.messaging.service_bus
        if bus is not None and bus.sku != "Premium":
            raise ValueError(
                "spec.messaging.serviceBus.sku: Standard has no private endpoints; use Premium with "
                "spec.azure.privateEndpoints (or drop them)"
            )
        recovery_side = self.recovery is not None and (bus is not None or self.cache.redis is not None)
        if recovery_side and private.recovery_subnet_id is None:
            raise ValueError(
                "spec.azure.privateEndpoints.recoverySubnetId is required with spec.recovery: the recovery-side "
                "Service Bus namespace and cache refuse public access too, and must stay reachable after a failover"
            )

    def team_of_namespace(self, namespace: str) -> Team | None:
        return next((t for t in self.teams if t.namespace == namespace), None)


class TeamStatus(Model):
    """Summary of one team."""

    name: DnsLabel
    namespace: DnsLabel
    services_ready: Annotated[str, StringConstraints(pattern=r"^[0-9]+/[0-9]+$", max_length=16)] = "0/0"


class AzureResourceStatus(Model):
    """One Azure resource the operator manages."""

    kind: Annotated[str, StringConstraints(max_length=128)]
    name: Annotated[str, StringConstraints(max_length=260)]
    id: Annotated[str, StringConstraints(max_length=1024)] | None = None
    state: Annotated[str, StringConstraints(max_length=64)] = Field(description="e.g. Succeeded, Creating, Failed.")
    endpoint: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        None, description="Where clients reach it, e.g. the Service Bus or Redis host name."
    )
    error_code: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        None, description="Azure's error code when the last operation failed."
    )
    message: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="Azure's error message, or what the resource waits for."
    )


class RecoveryStatus(Model):
    """Whether one store, as provisioned, meets the platform's recovery targets."""

    store: Annotated[str, StringConstraints(max_length=64)] = Field(description="e.g. ServiceBus, Redis, CosmosDb.")
    meets_targets: bool
    rpo: IsoDuration | None = Field(None, description="The recovery point the store achieves, where Azure states one.")
    rto: IsoDuration | None = Field(None, description="The recovery time the store achieves, where Azure states one.")
    detail: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="How it recovers, or why it cannot meet the targets and what would."
    )


class DeliveryPlatformStatus(Conditions):
    """Observed state, written only by the operator."""

    services_ready: Annotated[str, StringConstraints(pattern=r"^[0-9]+/[0-9]+$", max_length=16)] | None = Field(
        None, description='Ready DroneServices of the platform over all of them, e.g. "8/8".'
    )
    teams: list[TeamStatus] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    azure_resources: list[AzureResourceStatus] = Field(default_factory=list, max_length=64)
    recovery: list[RecoveryStatus] = Field(
        default_factory=list,
        max_length=16,
        description="Per store, whether it meets spec.recovery (empty without it).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["store"]},
    )
    backing: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        None, description='Where the stores come from, e.g. "in-cluster (fabrikam-backing)" or "azure".'
    )
    monitoring: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None,
        description="What the operator created to watch the platform (dashboards, on-call routing), or what is "
        'missing for it, e.g. "AlertmanagerConfig CRD not installed: no on-call routing".',
    )


class DeliveryPlatform(Model):
    """DeliveryPlatform: one environment of the drone delivery platform: its teams, services and Azure resources."""

    api_version: Literal["dronedelivery.fabrikam.io/v1alpha1"] = API_VERSION
    kind: Literal["DeliveryPlatform"] = KIND
    metadata: ObjectMeta
    spec: DeliveryPlatformSpec
    status: DeliveryPlatformStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

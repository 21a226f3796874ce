"""What the eight bundled services are: their routes, dependencies and sizing, as the platform deploys them.

The graph follows the delivery flow: ingestion -> queue -> workflow (package, drone scheduler, delivery) ->
delivery (ETAs from telemetry, events to notification). Sizing starts from the production figures of the
original system, with every service autoscaled and bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabrikam.operator.api import Autoscaling, Component, DeliveryPlatform, DependencyKind, QueueAccess, Resources, Use
from fabrikam.operator.api.platform import Queue
from fabrikam.operator.api.service import Expose, KeyVaultSecret

ENTRYPOINT = "fabrikam-svc"

# The queues the bundled services talk through (fabrikam.workloads.contracts; a unit test keeps both in step).
# With Service Bus they always exist, with the safe defaults of `Queue`; `messaging.serviceBus.queues` may tune them.
DELIVERY_REQUESTS = "delivery-requests"
WORKFLOW_EVENTS = "workflow-events"
PACKAGE_COMMANDS = "package-commands"
SCHEDULER_COMMANDS = "scheduler-commands"
DELIVERY_COMMANDS = "delivery-commands"
DELIVERY_TELEMETRY = "delivery-telemetry"
NOTIFICATION_EVENTS = "notification-events"
BUNDLED_QUEUES = (
    DELIVERY_REQUESTS,
    WORKFLOW_EVENTS,
    PACKAGE_COMMANDS,
    SCHEDULER_COMMANDS,
    DELIVERY_COMMANDS,
    DELIVERY_TELEMETRY,
    NOTIFICATION_EVENTS,
)


def platform_queues(platform: DeliveryPlatform) -> list[Queue]:
    """The platform's Service Bus queues: the bundled services' own (tuned by a spec entry of the same name), then
    the spec's other queues, then those granted to teams; empty without Service Bus (Redis Streams creates streams
    on first use)."""
    bus = platform.spec.messaging.service_bus
    if bus is None:
        return []
    declared = {queue.name: queue for queue in bus.queues}
    bundled = [declared.get(name) or Queue(name=name) for name in BUNDLED_QUEUES]
    listed = [*bundled, *(queue for queue in bus.queues if queue.name not in BUNDLED_QUEUES)]
    # A queue granted to a team exists too, with the safe defaults (once, however many teams it is granted to).
    granted = dict.fromkeys(g.name for team in platform.spec.teams for g in team.queues)
    known = {queue.name for queue in listed}
    return [*listed, *(Queue(name=name) for name in granted if name not in known)]


# Key Vault objects of the bundled services, mounted at /mnt/secrets/<name> (see workloads/README.md).
PII_KEY = KeyVaultSecret(name="pii-key")
PAYMENTS_WEBHOOK_SECRET = KeyVaultSecret(name="payments-webhook-secret")
SENDGRID_API_KEY = KeyVaultSecret(name="sendgrid-api-key")
TWILIO_AUTH_TOKEN = KeyVaultSecret(name="twilio-auth-token")


def _sends(*queues: str) -> tuple[Use, ...]:
    return tuple(Use(kind=DependencyKind.QUEUE, name=q, access=[QueueAccess.SEND]) for q in queues)


def _receives(*queues: str) -> tuple[Use, ...]:
    return tuple(Use(kind=DependencyKind.QUEUE, name=q, access=[QueueAccess.RECEIVE]) for q in queues)


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources.model_validate(
        {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}
    )


def _scaling(low: int, high: int, cpu: int = 70) -> Autoscaling:
    return Autoscaling(min_replicas=low, max_replicas=high, target_cpu_utilization_percentage=cpu)


@dataclass(frozen=True)
class Bundled:
    """Defaults of one bundled service; the platform's `services.<name>` blocks override them."""

    autoscaling: Autoscaling
    resources: Resources
    expose: Expose | None = None
    calls: tuple[Component, ...] = ()
    uses: tuple[Use, ...] = ()
    secrets: tuple[KeyVaultSecret, ...] = field(default=())


@dataclass(frozen=True)
class MongoCollection:
    """A collection a bundled service keeps in its MongoDB database, created up front on Cosmos DB (where the shard
    key is fixed at creation: a collection the service made itself would be unsharded)."""

    name: str
    shard_key: str | None = None
    # Fields with a single-field index; `_id` always has one (Cosmos DB requires it to be listed).
    indexes: tuple[str, ...] = ("_id",)


# By the name of the `mongo` dependency (the database): package's records, sharded on the tag (seed: the package
# service's Cosmos DB collection).
MONGO_COLLECTIONS: dict[str, tuple[MongoCollection, ...]] = {
    "packages": (MongoCollection("packages", shard_key="tag"),),
}


def bundled_uses(platform: DeliveryPlatform, kind: DependencyKind) -> list[tuple[Component, Use]]:
    """The `kind` dependencies of the platform's enabled bundled services, in catalog order."""
    return [
        (component, use)
        for component, bundled in CATALOG.items()
        if platform.spec.services.of(component).enabled
        for use in bundled.uses
        if use.kind is kind
    ]


def _published(component: Component) -> Expose:
    """Public as /api/<name>/v1/..., the service's own routes below its own prefix, exactly like the base URLs
    of the local stack: several services serve routes under /v1/deliveries, so plain prefixes would collide."""
    return Expose(path=f"/api/{component.value}", strip_prefix=True)


_SMALL = _resources("100m", "128Mi", "500m", "256Mi")

CATALOG: dict[Component, Bundled] = {
    Component.INGESTION: Bundled(
        autoscaling=_scaling(2, 10, 70),
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        expose=_published(Component.INGESTION),
        uses=_sends(DELIVERY_REQUESTS),
    ),
    Component.WORKFLOW: Bundled(
        autoscaling=_scaling(3, 15, 60),
        # A memory limit turns the suspected leak into a restart instead of node pressure.
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        calls=(Component.PACKAGE, Component.DRONE_SCHEDULER, Component.DELIVERY),
        uses=(
            *_receives(DELIVERY_REQUESTS, WORKFLOW_EVENTS),
            *_sends(PACKAGE_COMMANDS, SCHEDULER_COMMANDS, DELIVERY_COMMANDS),
        ),
    ),
    Component.DELIVERY: Bundled(
        autoscaling=_scaling(3, 20, 70),
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        expose=_published(Component.DELIVERY),
        calls=(Component.DRONE_TELEMETRY, Component.NOTIFICATION),
        uses=(
            Use(kind=DependencyKind.REDIS, name="delivery"),
            *_receives(DELIVERY_COMMANDS, DELIVERY_TELEMETRY),
            *_sends(WORKFLOW_EVENTS, NOTIFICATION_EVENTS),
        ),
    ),
    Component.DRONE_SCHEDULER: Bundled(
        autoscaling=_scaling(2, 8),
        resources=_SMALL,
        uses=(
            Use(kind=DependencyKind.REDIS, name="scheduler"),
            *_receives(SCHEDULER_COMMANDS),
            *_sends(WORKFLOW_EVENTS),
        ),
    ),
    Component.PACKAGE: Bundled(
        autoscaling=_scaling(2, 8),
        resources=_SMALL,
        uses=(Use(kind=DependencyKind.MONGO, name="packages"), *_receives(PACKAGE_COMMANDS), *_sends(WORKFLOW_EVENTS)),
    ),
    Component.NOTIFICATION: Bundled(
        autoscaling=_scaling(2, 6),
        resources=_SMALL,
        # Customers subscribe through it (POST /v1/deliveries/{id}/notify-me).
        expose=_published(Component.NOTIFICATION),
        uses=(
            Use(kind=DependencyKind.EXTERNAL, name="api.sendgrid.com"),
            Use(kind=DependencyKind.EXTERNAL, name="api.twilio.com"),
            # Send too: redriving its dead letters puts them back on its own queue.
            Use(kind=DependencyKind.QUEUE, name=NOTIFICATION_EVENTS),
        ),
        secrets=(PII_KEY, SENDGRID_API_KEY, TWILIO_AUTH_TOKEN),
    ),
    Component.ACCOUNT: Bundled(
        autoscaling=_scaling(2, 6),
        resources=_SMALL,
        expose=_published(Component.ACCOUNT),
        uses=(Use(kind=DependencyKind.SQL, name="accounts"),),
        secrets=(PII_KEY, PAYMENTS_WEBHOOK_SECRET),
    ),
    Component.DRONE_TELEMETRY: Bundled(
        autoscaling=_scaling(2, 10),
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        expose=_published(Component.DRONE_TELEMETRY),
        uses=(Use(kind=DependencyKind.REDIS, name="telemetry"), *_sends(DELIVERY_TELEMETRY)),
    ),
}

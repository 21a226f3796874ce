"""What the eight bundled services are: their routes, dependencies and sizing, as the platform deploys them.

The graph follows the delivery flow: ingestion -> queue -> workflow (package, drone scheduler, delivery) ->
delivery (ETAs from telemetry, events to notification). Sizing starts from the production figures of the
original system, with every service autoscaled and bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabrikam.operator.api import Autoscaling, Component, DependencyKind, Resources, Use
from fabrikam.operator.api.service import Expose, KeyVaultSecret

REQUESTS_QUEUE = "deliveryrequests"
ENTRYPOINT = "fabrikam-svc"


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


_SMALL = _resources("100m", "128Mi", "500m", "256Mi")

CATALOG: dict[Component, Bundled] = {
    Component.INGESTION: Bundled(
        autoscaling=_scaling(2, 10, 70),
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        expose=Expose(path="/api/deliveryrequests"),
        uses=(Use(kind=DependencyKind.QUEUE, name=REQUESTS_QUEUE),),
    ),
    Component.WORKFLOW: Bundled(
        autoscaling=_scaling(3, 15, 60),
        # A memory limit turns the suspected leak into a restart instead of node pressure.
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        calls=(Component.PACKAGE, Component.DRONE_SCHEDULER, Component.DELIVERY),
        uses=(Use(kind=DependencyKind.QUEUE, name=REQUESTS_QUEUE),),
    ),
    Component.DELIVERY: Bundled(
        autoscaling=_scaling(3, 20, 70),
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        expose=Expose(path="/api/deliveries"),
        calls=(Component.DRONE_TELEMETRY, Component.NOTIFICATION),
        uses=(Use(kind=DependencyKind.REDIS, name="delivery"),),
    ),
    Component.DRONE_SCHEDULER: Bundled(
        autoscaling=_scaling(2, 8),
        resources=_SMALL,
        uses=(Use(kind=DependencyKind.REDIS, name="scheduler"),),
    ),
    Component.PACKAGE: Bundled(
        autoscaling=_scaling(2, 8),
        resources=_SMALL,
        uses=(Use(kind=DependencyKind.MONGO, name="packages"),),
    ),
    Component.NOTIFICATION: Bundled(
        autoscaling=_scaling(2, 6),
        resources=_SMALL,
        uses=(
            Use(kind=DependencyKind.EXTERNAL, name="api.sendgrid.com"),
            Use(kind=DependencyKind.EXTERNAL, name="api.twilio.com"),
        ),
        secrets=(KeyVaultSecret(name="sendgrid-api-key"), KeyVaultSecret(name="twilio-auth-token")),
    ),
    Component.ACCOUNT: Bundled(
        autoscaling=_scaling(2, 6),
        resources=_SMALL,
        expose=Expose(path="/api/accounts"),
        uses=(Use(kind=DependencyKind.SQL, name="accounts"),),
    ),
    Component.DRONE_TELEMETRY: Bundled(
        autoscaling=_scaling(2, 10),
        resources=_resources("250m", "256Mi", "1", "512Mi"),
        expose=Expose(path="/api/telemetry"),
        uses=(Use(kind=DependencyKind.REDIS, name="telemetry"),),
    ),
}

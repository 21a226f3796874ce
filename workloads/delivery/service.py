"""Wires the delivery service: its API, delivery commands and drone telemetry."""

from fabrikam.workloads.contracts import DELIVERY_COMMANDS, DELIVERY_TELEMETRY
from fabrikam.workloads.delivery import api
from fabrikam.workloads.delivery.handlers import DeliveryHandlers
from fabrikam.workloads.delivery.live import LiveUpdates
from fabrikam.workloads.delivery.model import ACTIVE, TrackedDelivery
from fabrikam.workloads.kit.auth import Auth, TokenVerifier, protected
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.service import Runtime, ServiceParts

FINISHED_DELIVERY_RETENTION_SECONDS = 30 * 86_400


def delivery_retention(delivery: TrackedDelivery) -> int | None:
    """Finished deliveries and their tracking history stay readable for 30 days, then expire."""
    return None if delivery.stage in ACTIVE else FINISHED_DELIVERY_RETENTION_SECONDS


def build(runtime: Runtime) -> ServiceParts:
    deliveries = VersionedDocuments(runtime.redis, "delivery", TrackedDelivery, retention=delivery_retention)
    live = LiveUpdates(runtime.redis)
    handlers = DeliveryHandlers(deliveries, runtime.redis, runtime.broker, live)
    auth = Auth(TokenVerifier.from_settings(runtime.settings))
    return ServiceParts(
        title="Fabrikam delivery",
        routers=[protected(auth, api.router(deliveries, handlers))],
        consumers={DELIVERY_COMMANDS: handlers.handlers(), DELIVERY_TELEMETRY: handlers.telemetry_handlers()},
        # The relay drains what a crashed process left in the outbox before the workers take new messages.
        on_start=[live.start, handlers.relay.start],
        on_stop=[handlers.relay.stop, live.stop, auth.close],
    )

"""Wires the delivery service: its API, delivery commands and drone telemetry."""

from fabrikam.workloads.contracts import DELIVERY_COMMANDS, DELIVERY_TELEMETRY
from fabrikam.workloads.delivery import api
from fabrikam.workloads.delivery.handlers import DeliveryHandlers
from fabrikam.workloads.delivery.model import TrackedDelivery
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.service import Runtime, ServiceParts


def build(runtime: Runtime) -> ServiceParts:
    deliveries = VersionedDocuments(runtime.redis, "delivery", TrackedDelivery)
    handlers = DeliveryHandlers(deliveries, runtime.redis, runtime.broker)
    return ServiceParts(
        title="Fabrikam delivery",
        routers=[api.router(deliveries, handlers)],
        consumers={DELIVERY_COMMANDS: handlers.handlers(), DELIVERY_TELEMETRY: handlers.telemetry_handlers()},
    )

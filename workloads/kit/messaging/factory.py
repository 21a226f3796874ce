"""Picks the broker adapter from settings: Redis Streams locally, Service Bus when a namespace is set."""

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings, require


def consumer_name(service: str) -> str:
    """Unique per process, so a restarted process never inherits the locks of the one it replaces."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def broker(settings: ServiceSettings, redis: Redis) -> Broker:
    """The adapter the settings ask for."""
    if settings.broker == "servicebus":
        return _servicebus(settings)
    return RedisStreamsBroker(
        redis,
        consumer_name(settings.service),
        lock_seconds=settings.lock_seconds,
        max_delivery_count=settings.max_delivery_count,
        duplicate_window_seconds=settings.duplicate_window_seconds,
    )


def _servicebus(settings: ServiceSettings) -> Broker:
    """Imported only when chosen: the Azure SDK is a heavy import the local services never need."""
    from fabrikam.workloads.kit.messaging.servicebus import ServiceBusBroker

    return ServiceBusBroker(
        require(settings.servicebus_namespace, "servicebus_namespace"),
        try_timeout_seconds=settings.outbound_timeout_seconds,
    )


@contextlib.asynccontextmanager
async def standalone(settings: ServiceSettings) -> AsyncIterator[Broker]:
    """The adapter with connections of its own, for a tool outside a service (`fabrikam dlq`), configured as the
    services are; a Redis connection only for Redis Streams, so Service Bus needs no FABRIKAM_REDIS_URL."""
    if settings.broker == "servicebus":
        adapter = _servicebus(settings)
        try:
            yield adapter
        finally:
            await adapter.close()
        return
    redis = redis_client(settings)
    try:
        yield broker(settings, redis)
    finally:
        await redis.aclose()

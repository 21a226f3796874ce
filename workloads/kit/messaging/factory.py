"""Picks the broker adapter from settings: Redis Streams locally, Service Bus when a namespace is set."""

import os
import socket
import uuid

from redis.asyncio import Redis

from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.settings import ServiceSettings, require


def consumer_name(service: str) -> str:
    """Unique per process, so a restarted process never inherits the locks of the one it replaces."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def broker(settings: ServiceSettings, redis: Redis) -> Broker:
    """The adapter the settings ask for."""
    if settings.broker == "servicebus":
        namespace = require(settings.servicebus_namespace, "servicebus_namespace")
        from fabrikam.workloads.kit.messaging.servicebus import ServiceBusBroker

        return ServiceBusBroker(namespace)
    return RedisStreamsBroker(
        redis,
        consumer_name(settings.service),
        lock_seconds=settings.lock_seconds,
        max_delivery_count=settings.max_delivery_count,
        duplicate_window_seconds=settings.duplicate_window_seconds,
    )

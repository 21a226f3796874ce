"""Prometheus metrics of every workload (seed: no custom metrics), served at `/metrics` and pushed by
`kit/telemetry.py`. Labels stay few and bounded: a route template, a queue, a stage, never a delivery id.

The list with each metric's service is in workloads/README.md (Telemetry)."""

import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import ConnectionPool
from redis.observability.attributes import DB_CLIENT_CONNECTION_STATE, ConnectionState

HTTP_REQUESTS = Counter(
    "fabrikam_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "fabrikam_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
MESSAGES = Counter("fabrikam_messages_total", "Messages handled by outcome", ["service", "queue", "type", "outcome"])
MESSAGE_LATENCY = Histogram("fabrikam_message_seconds", "Message handling latency", ["service", "queue"])
PUBLISHED = Counter("fabrikam_messages_published_total", "Messages accepted by the broker", ["queue", "type"])
DUPLICATES = Counter("fabrikam_messages_duplicate_total", "Publishes dropped as duplicates", ["queue"])

# Saturation of a consumer: handlers running against the concurrency it allows (FABRIKAM_CONCURRENCY).
HANDLERS_IN_FLIGHT = Gauge("fabrikam_handlers_in_flight", "Message handlers running", ["service", "queue"])
HANDLERS_LIMIT = Gauge("fabrikam_handlers_limit", "Message handlers allowed to run at once", ["service", "queue"])
# A queue as its consumer last sampled it from the broker (every few seconds).
QUEUE_MESSAGES = Gauge(
    "fabrikam_queue_messages",
    "Messages in the queue: waiting for a consumer, or in flight (locked)",
    ["queue", "state"],
)
QUEUE_OLDEST_AGE = Gauge(
    "fabrikam_queue_oldest_message_age_seconds", "Age of the oldest message in the queue (0 when empty)", ["queue"]
)
QUEUE_DEAD_LETTERS = Gauge("fabrikam_queue_dead_letters", "Messages in the queue's dead-letter queue", ["queue"])

DELIVERY_STAGE_TRANSITIONS = Counter(
    "fabrikam_delivery_stage_transitions_total",
    "Deliveries that reached a stage (each delivery once per stage)",
    ["stage"],
)
DRONES = Gauge("fabrikam_drones", "Drones of the fleet by status (assigned: flying a delivery)", ["status"])
NOTIFICATIONS = Counter(
    "fabrikam_notifications_total",
    "Notifications by channel and outcome: sent, failed (refused for good), skipped (channel not configured), "
    "deferred (provider failing; the event is redelivered)",
    ["channel", "outcome"],
)


class RedisPools(Collector):
    """The connections of the process's Redis pools, read when scraped: in use against the pool's size is the
    saturation that, full, answers 503 (seed: connection pool exhaustion)."""

    def __init__(self) -> None:
        self._pools: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()

    def watch(self, pool: ConnectionPool) -> None:
        self._pools.add(pool)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families(list(self._pools))

    @staticmethod
    def _families(pools: list[ConnectionPool] | None = None) -> Iterator[GaugeMetricFamily]:
        connections = GaugeMetricFamily(
            "fabrikam_redis_pool_connections", "Redis connections of the pool, in use or idle", labels=["state"]
        )
        size = GaugeMetricFamily("fabrikam_redis_pool_size", "Connections the Redis pool may open at most")
        if pools is not None:
            counts = dict.fromkeys((ConnectionState.USED.value, ConnectionState.IDLE.value), 0)
            for pool in pools:
                for count, attributes in pool.get_connection_count():
                    state = str(attributes[DB_CLIENT_CONNECTION_STATE])
                    counts[state] = counts.get(state, 0) + count
            connections.add_metric(["in_use"], counts[ConnectionState.USED.value])
            connections.add_metric(["idle"], counts[ConnectionState.IDLE.value])
            size.add_metric([], sum(pool.max_connections for pool in pools))
        yield connections
        yield size


REDIS_POOLS = RedisPools()
REGISTRY.register(REDIS_POOLS)

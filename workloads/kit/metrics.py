"""Prometheus metrics shared by every workload (seed: no custom metrics)."""

from prometheus_client import Counter, Histogram

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

"""Prometheus metrics of the operator's Azure calls; the handlers expose the default registry.

Two views: logical operations (one reconcile step on one resource, including the SDK's own retries and LRO
polling) by result and latency, and every HTTP response Azure sent, so throttling hidden by retries stays visible.
The client-side rate limiter adds how often and how long requests waited for it, and how many are in flight.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

OPERATIONS = Counter(
    "fabrikam_operator_azure_operations_total",
    "Azure management operations by resource kind, verb and result.",
    ["operation", "result"],
)
LATENCY = Histogram(
    "fabrikam_operator_azure_operation_duration_seconds",
    "Duration of Azure management operations, including retries and long-running operation polling.",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800),
)
HTTP_RESPONSES = Counter(
    "fabrikam_operator_azure_http_responses_total",
    "HTTP responses from Azure Resource Manager by method and status code, retries included.",
    ["method", "status"],
)
LIMITER_WAITS = Counter(
    "fabrikam_operator_azure_limiter_waits_total",
    "Requests the client-side Resource Manager rate limiter held back, by token bucket (read, write, delete).",
    ["bucket"],
)
LIMITER_WAIT_SECONDS = Counter(
    "fabrikam_operator_azure_limiter_wait_seconds_total",
    "Seconds requests waited for a token of the client-side Resource Manager rate limiter, by token bucket.",
    ["bucket"],
)
IN_FLIGHT = Gauge(
    "fabrikam_operator_azure_requests_in_flight",
    "Requests to Azure Resource Manager sent and not yet answered (bounded by the rate limiter).",
)


class TrackedCall:
    """Set by the caller inside `track` when the operation ended in something other than success."""

    def __init__(self) -> None:
        self.result = "success"


@asynccontextmanager
async def track(operation: str) -> AsyncIterator[TrackedCall]:
    """Counts and times one operation; an exception escaping the block counts as `error`."""
    outcome = TrackedCall()
    start = time.monotonic()
    try:
        yield outcome
    except BaseException:
        outcome.result = "error" if outcome.result == "success" else outcome.result
        raise
    finally:
        LATENCY.labels(operation).observe(time.monotonic() - start)
        OPERATIONS.labels(operation, outcome.result).inc()


def count_response(response: Any) -> None:
    """azure-core `raw_response_hook`: runs for every attempt, after the retry policy."""
    http = response.http_response
    HTTP_RESPONSES.labels(response.http_request.method, str(http.status_code)).inc()

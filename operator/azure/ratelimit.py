"""A client-side limiter below Azure Resource Manager's own throttling, so the operator paces itself instead of
collecting 429s for a whole subscription (other tools using the same principal included).

ARM throttles per subscription, principal, region and operation type with token buckets: reads 250 then 25/s,
writes 200 then 10/s, deletes 200 then 10/s (learn.microsoft.com, "Understand how Azure Resource Manager throttles
requests", regional throttling since 2024). The operator is one principal, so one limiter per subscription, shared by
its management clients, mirrors those buckets with lower figures; a bound on requests in flight keeps a thousand
objects reconciled at once from becoming a thousand simultaneous calls. Waiting for a token is an `asyncio` sleep:
the event loop keeps serving every other object.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy
from azure.core.rest import AsyncHttpResponse, HttpRequest

from fabrikam.operator.azure.metrics import IN_FLIGHT, LIMITER_WAIT_SECONDS, LIMITER_WAITS


@dataclass(frozen=True)
class RateLimits:
    """The limiter's figures; the defaults stay below ARM's per-principal buckets (refill a fifth lower)."""

    write_burst: float = 100.0
    writes_per_second: float = 8.0
    read_burst: float = 200.0
    reads_per_second: float = 20.0
    max_in_flight: int = 32


class Bucket(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"


def bucket_of(method: str) -> Bucket:
    """ARM counts deletes apart from other writes; POST (actions such as listKeys) counts as a write."""
    verb = method.upper()
    if verb in ("GET", "HEAD", "OPTIONS"):
        return Bucket.READ
    return Bucket.DELETE if verb == "DELETE" else Bucket.WRITE


class TokenBucket:
    """ARM's algorithm on the client side: `burst` tokens, refilled at `per_second`, one per request.

    Tokens are reserved in arrival order (the count may go below zero), so concurrent callers are spaced at the
    refill rate instead of all waking when one token comes back. Plain arithmetic on `clock`, testable with a fake.
    """

    def __init__(self, burst: float, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("a token bucket needs a burst of at least 1 and a positive refill rate")
        self.burst, self.per_second, self._clock = burst, per_second, clock
        self._tokens, self._updated = burst, clock()

    def reserve(self) -> float:
        """Takes the next token: seconds from now until it is due (0: send now)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.per_second) - 1
        self._updated = now
        return 0.0 if self._tokens >= 0 else -self._tokens / self.per_second


class ArmRateLimiter:
    """The buckets and the in-flight bound of one subscription; every client of that subscription shares it."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._buckets = {
            Bucket.READ: TokenBucket(limits.read_burst, limits.reads_per_second, clock),
            Bucket.WRITE: TokenBucket(limits.write_burst, limits.writes_per_second, clock),
            Bucket.DELETE: TokenBucket(limits.write_burst, limits.writes_per_second, clock),
        }
        self._in_flight = asyncio.Semaphore(limits.max_in_flight)
        self._sleep = sleep

    @asynccontextmanager
    async def slot(self, method: str) -> AsyncIterator[None]:
        """Holds a request until its token is due and fewer than `max_in_flight` others are being sent."""
        bucket = bucket_of(method)
        delay = self._buckets[bucket].reserve()
        if delay > 0:
            LIMITER_WAITS.labels(bucket.value).inc()
            LIMITER_WAIT_SECONDS.labels(bucket.value).inc(delay)
            await self._sleep(delay)
        async with self._in_flight:
            IN_FLIGHT.inc()
            try:
                yield
            finally:
                IN_FLIGHT.dec()


class RateLimitPolicy(AsyncHTTPPolicy[HttpRequest, AsyncHttpResponse]):
    """azure-core per-retry policy: every attempt, retries and long-running-operation polls included, passes the
    limiter. One instance per client (a pipeline links its policies), all sharing the subscription's limiter."""

    def __init__(self, limiter: ArmRateLimiter) -> None:
        self.limiter = limiter

    async def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, AsyncHttpResponse]:
        async with self.limiter.slot(request.http_request.method):
            return await self.next.send(request)

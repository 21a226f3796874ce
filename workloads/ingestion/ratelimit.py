"""Per-client token buckets (seed: no rate limiting): a client over its rate gets 429 with Retry-After."""

import math
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    refreshed: float


class RateLimiter:
    """In-process buckets, one per client id; the least recently seen clients are forgotten past a cap."""

    def __init__(self, per_second: float, burst: int, max_clients: int = 10_000) -> None:
        self._per_second = per_second
        self._burst = burst
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Take a token: 0 when allowed, else the whole seconds until a token is available."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(client, None) or _Bucket(float(self._burst), now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.refreshed) * self._per_second)
        bucket.refreshed = now
        self._buckets[client] = bucket
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / self._per_second))

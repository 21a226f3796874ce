"""The client-side limiter: a burst goes at once, what follows is spaced at the refill rate, reads, writes and deletes
draw from separate buckets, and no more than `max_in_flight` requests are out at a time. A fake clock, no sleeping."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from fabrikam.operator.azure import AzureClients, AzureSettings
from fabrikam.operator.azure.ratelimit import (
    ArmRateLimiter,
    Bucket,
    RateLimitPolicy,
    RateLimits,
    TokenBucket,
    bucket_of,
)


class FakeClock:
    """Time that moves only when the code under test sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("method", "bucket"),
    [
        ("GET", Bucket.READ),
        ("head", Bucket.READ),
        ("PUT", Bucket.WRITE),
        ("PATCH", Bucket.WRITE),
        ("POST", Bucket.WRITE),
        ("DELETE", Bucket.DELETE),
    ],
)
def test_requests_draw_from_arms_bucket_for_their_method(method: str, bucket: Bucket) -> None:
    assert bucket_of(method) is bucket


def test_a_burst_goes_at_once_then_requests_are_spaced_at_the_refill_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst=5, per_second=10, clock=clock)

    burst = [bucket.reserve() for _ in range(5)]
    queued = [bucket.reserve() for _ in range(3)]

    assert burst == [0.0] * 5
    assert queued == pytest.approx([0.1, 0.2, 0.3])


def test_tokens_come_back_with_time_but_never_beyond_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst=3, per_second=2, clock=clock)
    for _ in range(3):
        bucket.reserve()

    clock.now += 1.0  # two tokens back
    after_a_second = [bucket.reserve() for _ in range(3)]
    clock.now += 3600.0  # an idle hour refills the burst, not 7200 tokens
    after_an_hour = [bucket.reserve() for _ in range(4)]

    assert after_a_second == pytest.approx([0.0, 0.0, 0.5])
    assert after_an_hour == pytest.approx([0.0, 0.0, 0.0, 0.5])


def test_a_bucket_without_tokens_or_refill_is_refused() -> None:
    with pytest.raises(ValueError, match="burst of at least 1"):
        TokenBucket(burst=0, per_second=10)
    with pytest.raises(ValueError, match="positive refill rate"):
        TokenBucket(burst=10, per_second=0)


async def test_the_limiter_sleeps_only_past_the_burst_and_keeps_the_write_rate() -> None:
    clock = FakeClock()
    limits = RateLimits(write_burst=4, writes_per_second=8, read_burst=100, reads_per_second=100)
    limiter = ArmRateLimiter(limits, clock=clock, sleep=clock.sleep)
    sent: list[float] = []

    async def put() -> None:
        async with limiter.slot("PUT"):
            sent.append(clock.now)

    await asyncio.gather(*(put() for _ in range(12)))

    assert sent[:4] == [1000.0] * 4
    assert len(clock.slept) == 8
    # What followed the burst went at the refill rate: 8 more writes in one second.
    assert sorted(sent)[-1] - 1000.0 == pytest.approx(1.0)
    rate_after_burst = (len(sent) - limits.write_burst) / (max(sent) - min(sent))
    assert rate_after_burst == pytest.approx(limits.writes_per_second)


async def test_reads_and_deletes_do_not_wait_for_writes() -> None:
    clock = FakeClock()
    limiter = ArmRateLimiter(RateLimits(write_burst=1, writes_per_second=1), clock=clock, sleep=clock.sleep)
    async with limiter.slot("PUT"):
        pass

    async with limiter.slot("GET"), limiter.slot("DELETE"):
        pass

    assert clock.slept == []


async def test_no_more_than_max_in_flight_requests_are_out_at_once() -> None:
    limiter = ArmRateLimiter(RateLimits(read_burst=100, reads_per_second=100, max_in_flight=2))
    release = asyncio.Event()
    inside: list[int] = []
    peak = 0

    async def get() -> None:
        nonlocal peak
        async with limiter.slot("GET"):
            inside.append(1)
            peak = max(peak, len(inside))
            await release.wait()
            inside.pop()

    tasks = [asyncio.create_task(get()) for _ in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    held_back = len(inside)
    release.set()
    await asyncio.gather(*tasks)

    assert held_back == 2
    assert peak == 2


class _Credential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None


async def test_every_client_of_a_subscription_goes_through_one_limiter() -> None:
    async with AzureClients(_Credential(), "sub", AzureSettings()) as clients:
        pipelines = [
            c._client._pipeline for c in (clients.servicebus, clients.redis, clients.msi, clients.authorization)
        ]
        policies = [p for pipeline in pipelines for p in pipeline._impl_policies if isinstance(p, RateLimitPolicy)]

    # One policy per pipeline (a pipeline links its policies), all sharing the subscription's buckets.
    assert len(policies) == 4
    assert len({id(p) for p in policies}) == 4
    assert all(p.limiter is clients.limiter for p in policies)

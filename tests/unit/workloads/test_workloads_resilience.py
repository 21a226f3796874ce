"""Resilience: only transient failures are retried, and a full pool answers quickly instead of hanging."""

import asyncio
import time

import httpx
import pytest
from redis import exceptions as redis_errors

from fabrikam.workloads.kit.resilience import (
    BoundedConcurrency,
    Overloaded,
    is_transient,
    retry_transient,
    when_reachable,
)


def status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://weather.test")
    return httpx.HTTPStatusError("x", request=request, response=httpx.Response(code, request=request))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (httpx.ConnectTimeout("slow"), True),
        (status_error(503), True),
        (status_error(429), True),
        (status_error(404), False),
        (redis_errors.ConnectionError("reset by peer"), True),
        (redis_errors.ConnectionError("No connection available."), False),
        (ValueError("bad input"), False),
    ],
)
def test_which_errors_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


async def test_transient_failures_are_retried_until_success() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused")
        return "ok"

    assert await retry_transient(flaky, attempts=4) == "ok"
    assert calls == 3


async def test_permanent_failures_are_not_retried() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await retry_transient(broken)
    assert calls == 1


async def test_retries_stop_at_the_attempt_limit() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        await retry_transient(down, attempts=3)
    assert calls == 3


async def test_a_full_pool_raises_overloaded_after_its_deadline() -> None:
    pool = BoundedConcurrency(limit=1, wait_seconds=0.05)
    async with pool:
        started = time.monotonic()
        with pytest.raises(Overloaded):
            async with pool:
                pass
        assert time.monotonic() - started < 2
    async with pool:  # released: usable again
        await asyncio.sleep(0)


async def test_a_start_waits_for_a_store_that_does_not_answer_yet_but_not_for_a_bug() -> None:
    """Pods start in any order: account's first pods crash-looped while PostgreSQL was still starting."""
    calls = []

    async def start() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "schema ready"

    assert await when_reachable(start, "create schema", within_seconds=30) == "schema ready"
    assert len(calls) == 3

    async def broken() -> None:
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await when_reachable(broken, "broken", within_seconds=30)
    assert len(calls) == 4

    async def never() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(ConnectionRefusedError):
        await when_reachable(never, "never", within_seconds=0.5)


async def test_a_start_waits_for_an_identity_whose_federated_credential_is_not_in_entra_id_yet() -> None:
    """A new service's first token requests fail until its federated credential has reached Entra ID."""
    from azure.core.exceptions import ClientAuthenticationError

    calls = []

    async def sign_in() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ClientAuthenticationError("AADSTS70021: No matching federated identity record found")
        return "signed in"

    assert await when_reachable(sign_in, "sign in", within_seconds=30) == "signed in"
    assert len(calls) == 2

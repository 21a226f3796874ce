"""Timeouts, retries for transient errors only, circuit breakers and bounded pools (seed: none of these)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
from azure.core.credentials import TokenCredential
from purgatory import AsyncCircuitBreakerFactory
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from fabrikam.workloads.kit.redis_auth import entra_credentials, uses_entra
from fabrikam.workloads.kit.settings import SecretFileError, ServiceSettings, read_secret_file, require

T = TypeVar("T")
log = logging.getLogger(__name__)


class TransientError(Exception):
    """A failure worth retrying: the same call may succeed a moment later."""


class Overloaded(Exception):
    """A bounded resource stayed full past its deadline; callers answer 503 instead of queueing forever."""


def is_transient(error: BaseException) -> bool:
    """Network hiccups, timeouts and 5xx/429 answers are transient; validation and 4xx answers are not."""
    if isinstance(error, TransientError | httpx.TransportError | asyncio.TimeoutError):
        return True
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500 or error.response.status_code == 429
    return isinstance(error, redis_errors.ConnectionError | redis_errors.TimeoutError) and not is_pool_full(error)


def is_unreachable(error: BaseException) -> bool:
    """A store that does not answer yet (refused, unresolvable, starting up): in a cluster pods start in any
    order, so a service's start waits for its stores instead of crashing the pod."""
    if is_transient(error) or isinstance(error, OSError):
        return True
    from azure.core.exceptions import ClientAuthenticationError

    if isinstance(error, ClientAuthenticationError):
        # A new identity's federated credential takes a minute or two to reach Entra ID: its first tokens fail.
        return True
    from pymongo.errors import ConnectionFailure
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(error, ConnectionFailure | OperationalError | InterfaceError)


async def when_reachable(call: Callable[[], Awaitable[T]], what: str, *, within_seconds: float) -> T:
    """Run `call`, retrying while its store is unreachable (backoff up to 5 s), for at most `within_seconds`."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_unreachable),
        wait=wait_random_exponential(multiplier=0.5, max=5.0),
        stop=stop_after_delay(within_seconds),
        before_sleep=lambda state: log.warning(
            "waiting for a store to answer",
            extra={"fields": {"step": what, "error": repr(state.outcome.exception() if state.outcome else None)}},
        ),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("tenacity either returns or reraises")


def is_pool_full(error: BaseException) -> bool:
    """redis-py's blocking pool signals its deadline with a ConnectionError of this text."""
    return isinstance(error, redis_errors.ConnectionError) and "No connection available" in str(error)


async def retry_transient(call: Callable[[], Awaitable[T]], *, attempts: int = 4, deadline_seconds: float = 5.0) -> T:
    """Run `call`, retrying transient failures with exponential backoff and full jitter."""
    try:
        return await call()  # the common case pays nothing for the retry machinery
    except Exception as error:
        if not is_transient(error) or attempts <= 1:
            raise
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_random_exponential(multiplier=0.05, max=1.0),
        stop=stop_after_attempt(attempts - 1) | stop_after_delay(deadline_seconds),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("tenacity either returns or reraises")


def redis_client(settings: ServiceSettings, credential: TokenCredential | None = None) -> Redis:
    """A Redis client on a bounded pool: a full pool waits `pool_wait_seconds`, then fails fast. With Entra ID
    sign-in (`settings.redis_auth`), every connection authenticates with a token of `credential` (by default
    the pod's identity), renewed on the open connections before it expires."""
    url = require(settings.redis_url, "redis_url")
    entra = entra_credentials(credential) if uses_entra(url, settings.redis_auth) else None
    # A password in the URL wins over the file's (from_url lets the URL override keyword arguments).
    password = None
    if entra is None and settings.redis_password_file:
        password = read_secret_file(Path(settings.redis_password_file))
        if password is None:
            raise SecretFileError(f"FABRIKAM_REDIS_PASSWORD_FILE names {settings.redis_password_file}, which is absent")
    pool = BlockingConnectionPool.from_url(
        url,
        password=password,
        # A restarted Redis leaves every pooled connection stale: the first command on each reconnects and runs
        # again instead of failing (redis-py's own default, which a pool built from a URL does not get). Only a
        # refused or closed connection is retried: a timeout says the server is busy, and waiting again helps
        # no one.
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3, supported_errors=(redis_errors.ConnectionError,)
        ),
        max_connections=settings.pool_size,
        timeout=settings.pool_wait_seconds,
        socket_timeout=settings.outbound_timeout_seconds,
        socket_connect_timeout=settings.outbound_timeout_seconds,
        health_check_interval=30,
        decode_responses=True,
        credential_provider=entra,
    )
    # The client, given the provider too, subscribes the pool to its token renewals (re-AUTH).
    return Redis(connection_pool=pool, credential_provider=entra)


def circuit_breakers() -> AsyncCircuitBreakerFactory:
    """Breakers open after 5 consecutive failures and probe again after 30 seconds."""
    return AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)


class BoundedConcurrency:
    """At most `limit` concurrent holders; a caller waiting longer than the deadline gets `Overloaded`."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self._semaphore = asyncio.Semaphore(limit)
        self._wait_seconds = wait_seconds

    async def __aenter__(self) -> None:
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self._wait_seconds)
        except TimeoutError as error:
            raise Overloaded("no capacity within the deadline") from error

    async def __aexit__(self, *_: object) -> None:
        self._semaphore.release()

"""The Azure management clients, built once per subscription with the operator's credential and settings.

Tests point `base_url` at a local fake Resource Manager and trust its CA through `connection_verify`; in the
cluster the defaults reach the public cloud with the operator's workload identity. The clients of a
subscription share one rate limiter, since ARM throttles the subscription and principal, not each client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from azure.mgmt.applicationinsights.aio import ApplicationInsightsManagementClient
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.consumption.aio import ConsumptionManagementClient
from azure.mgmt.cosmosdb.aio import CosmosDBManagementClient
from azure.mgmt.keyvault.aio import KeyVaultManagementClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.network.aio import NetworkManagementClient
from azure.mgmt.postgresqlflexibleservers.aio import PostgreSQLManagementClient
from azure.mgmt.privatedns.aio import PrivateDnsManagementClient
from azure.mgmt.redis.aio import RedisManagementClient
from azure.mgmt.servicebus.aio import ServiceBusManagementClient

from fabrikam.operator.azure.metrics import count_response
from fabrikam.operator.azure.ratelimit import ArmRateLimiter, RateLimitPolicy, RateLimits


@dataclass(frozen=True)
class AzureSettings:
    """How the operator talks to Azure Resource Manager."""

    # None: the public cloud's Resource Manager.
    base_url: str | None = None
    # False never belongs in production; a path trusts a private CA (tests' fake ARM).
    connection_verify: bool | str = True
    # Seconds between LRO polls when Azure sends no Retry-After.
    polling_interval: float = 10.0
    # How long one reconcile waits for an LRO before reporting InProgress and letting the next pass pick it up.
    lro_timeout: float = 120.0
    retry_total: int = 6
    retry_backoff_factor: float = 0.8
    retry_backoff_max: float = 60.0
    connection_timeout: float = 30.0
    read_timeout: float = 60.0
    limits: RateLimits = field(default_factory=RateLimits)

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "connection_verify": self.connection_verify,
            "polling_interval": self.polling_interval,
            "retry_total": self.retry_total,
            "retry_backoff_factor": self.retry_backoff_factor,
            "retry_backoff_max": self.retry_backoff_max,
            "connection_timeout": self.connection_timeout,
            "read_timeout": self.read_timeout,
            "raw_response_hook": count_response,
        }
        if self.base_url is not None:
            kwargs["base_url"] = self.base_url
        return kwargs


def default_credential() -> AsyncTokenCredential:
    """The operator's own identity: workload identity in AKS, developer logins elsewhere. The caller closes it."""
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


class AzureClients:
    """Management clients of one subscription; an async context manager that closes their HTTP sessions.

    Built once per subscription and kept: each client holds a pooled HTTPS session and the credential caches its
    token, so a reconcile costs no token request and no TLS handshake."""

    def __init__(self, credential: AsyncTokenCredential, subscription_id: str, settings: AzureSettings) -> None:
        self.settings = settings
        self.subscription_id = subscription_id
        self.credential = credential
        self.limiter = ArmRateLimiter(settings.limits)
        kwargs = settings.client_kwargs()
        # A policy instance per client: a pipeline links its policies to each other.
        self.servicebus = ServiceBusManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.redis = RedisManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.msi = ManagedServiceIdentityClient(credential, subscription_id, **kwargs, **self._limited())
        self.authorization = AuthorizationManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.cosmosdb = CosmosDBManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.postgres = PostgreSQLManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.keyvault = KeyVaultManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.consumption = ConsumptionManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.network = NetworkManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.private_dns = PrivateDnsManagementClient(credential, subscription_id, **kwargs, **self._limited())
        self.applicationinsights = ApplicationInsightsManagementClient(
            credential, subscription_id, **kwargs, **self._limited()
        )

    def _limited(self) -> dict[str, Any]:
        return {"per_retry_policies": [RateLimitPolicy(self.limiter)]}

    async def close(self) -> None:
        for client in (
            self.servicebus,
            self.redis,
            self.msi,
            self.authorization,
            self.cosmosdb,
            self.postgres,
            self.keyvault,
            self.consumption,
            self.network,
            self.private_dns,
            self.applicationinsights,
        ):
            await client.close()

    async def __aenter__(self) -> AzureClients:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class TokenFileCredential:
    """A bearer token read from a file on every request: for running the operator outside Azure with a token
    obtained elsewhere (`az account get-access-token --query accessToken -o tsv > token`)."""

    def __init__(self, path: str, lifetime_seconds: int = 300) -> None:
        self.path = path
        self.lifetime_seconds = lifetime_seconds

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = (await asyncio.to_thread(Path(self.path).read_text)).strip()
        return AccessToken(token, int(time.time()) + self.lifetime_seconds)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> TokenFileCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None

"""Signing in to Azure's Redis with Microsoft Entra ID: the pod's identity gets a token for Redis, which is the
password, and the token's `oid` claim (the identity's object id) is the user the cache's access policy names.

In Azure the operator provisions the cache with access keys off, so the URL carries no password. Tokens expire
(after an hour or more), and the cache drops a connection whose token ran out: redis-entraid's streaming
credential provider fetches a new token before that and redis-py re-AUTHs every pooled connection with it
(idle ones at once, busy ones when they return to the pool).
"""

from typing import Literal
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential
from redis.auth.token_manager import RetryPolicy, TokenManagerConfig
from redis_entraid.cred_provider import EntraIdCredentialsProvider
from redis_entraid.identity_provider import DefaultAzureCredentialProvider

RedisAuth = Literal["auto", "none", "entra"]

# Azure Cache for Redis, and Azure Managed Redis; other clouds' hosts need FABRIKAM_REDIS_AUTH=entra.
AZURE_REDIS_HOST_SUFFIXES = (".redis.cache.windows.net", ".redis.azure.net")
REDIS_SCOPE = "https://redis.azure.com/.default"
# A token is renewed when 70% of what was left of it has passed (redis-entraid's default); a failed request is
# tried three times, half a second apart, before the renewal gives up (the next connection asks again).
TOKEN_MANAGER = TokenManagerConfig(0.7, 0, 1000, RetryPolicy(3, 500))


def uses_entra(redis_url: str, mode: RedisAuth) -> bool:
    """Whether to sign in with an Entra ID token; a URL that also carries a password is a contradiction."""
    parts = urlsplit(redis_url)
    if mode == "auto":
        return parts.password is None and (parts.hostname or "").endswith(AZURE_REDIS_HOST_SUFFIXES)
    if mode == "entra" and parts.password is not None:
        raise ValueError("FABRIKAM_REDIS_AUTH=entra signs in with a token: remove the password from FABRIKAM_REDIS_URL")
    return mode == "entra"


def entra_credentials(credential: TokenCredential | None = None) -> EntraIdCredentialsProvider:
    """Credentials from `credential`, by default the pod's workload identity (or whatever
    DefaultAzureCredential finds), refreshed in the background while the event loop runs."""
    identity = DefaultAzureCredentialProvider(credential or DefaultAzureCredential(), (REDIS_SCOPE,))
    return EntraIdCredentialsProvider(identity, TOKEN_MANAGER)

"""Which Redis URLs sign in with Microsoft Entra ID, and that the pool's connections then carry the token provider."""

import pytest
from redis.asyncio.connection import Connection, SSLConnection
from redis_entraid.cred_provider import EntraIdCredentialsProvider

from fabrikam.workloads.kit.redis_auth import RedisAuth, uses_entra
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings

AZURE_CACHE = "rediss://fabrikam-dev.redis.cache.windows.net:6380/0"


@pytest.mark.parametrize(
    ("url", "mode", "entra"),
    [
        ("redis://127.0.0.1:6379/0", "auto", False),
        (AZURE_CACHE, "auto", True),
        ("rediss://fabrikam-dev.westeurope.redis.azure.net:10000/0", "auto", True),
        ("rediss://:access-key@fabrikam-dev.redis.cache.windows.net:6380/0", "auto", False),
        (AZURE_CACHE, "none", False),
        ("rediss://redis.internal.example:6380/0", "entra", True),
        ("rediss://fabrikam.redis.cache.chinacloudapi.cn:6380/0", "auto", False),
    ],
)
def test_entra_sign_in_is_for_azure_hosts_without_a_password_or_when_asked(
    url: str, mode: RedisAuth, entra: bool
) -> None:
    assert uses_entra(url, mode) is entra


def test_asking_for_entra_with_a_password_in_the_url_stops_the_service() -> None:
    with pytest.raises(ValueError, match="remove the password"):
        uses_entra("rediss://:access-key@fabrikam-dev.redis.cache.windows.net:6380/0", "entra")


def test_settings_take_the_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().redis_auth == "auto"
    monkeypatch.setenv("FABRIKAM_REDIS_AUTH", "entra")
    assert ServiceSettings().redis_auth == "entra"


async def test_an_azure_cache_url_gives_connections_that_sign_in_with_the_token_provider() -> None:
    client = redis_client(ServiceSettings(redis_url=AZURE_CACHE))
    pool = client.connection_pool
    provider = pool.connection_kwargs["credential_provider"]
    assert isinstance(provider, EntraIdCredentialsProvider)
    connection = pool.make_connection()
    assert isinstance(connection, SSLConnection)
    assert (connection.credential_provider, connection.username, connection.password) == (provider, None, None)
    await client.aclose()


async def test_a_local_url_keeps_plain_connections() -> None:
    client = redis_client(ServiceSettings(redis_url="redis://127.0.0.1:6379/0"))
    connection = client.connection_pool.make_connection()
    assert type(connection) is Connection
    assert connection.credential_provider is None
    await client.aclose()

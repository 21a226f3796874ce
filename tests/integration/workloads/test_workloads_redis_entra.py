"""Entra ID sign-in against a real redis-server: an ACL user named after the identity's object id, whose
password is the token a stand-in for Entra ID issues (what Azure Cache for Redis does with the real ones)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from azure.core.credentials import AccessToken
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.kit.redis_auth import REDIS_SCOPE
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings

SERVICE_OID = "6f1f3a52-0000-4000-8000-00000000a001"
RENEWED_OID = "6f1f3a52-0000-4000-8000-00000000a002"


def entra_token(oid: str, lifetime_seconds: int) -> str:
    """Shaped like an Entra access token for Redis (signature unchecked by the client, as in Azure)."""
    now = int(time.time())
    claims = {"aud": "https://redis.azure.com", "oid": oid, "iat": now, "exp": now + lifetime_seconds}
    claims["uti"] = uuid.uuid4().hex  # each token its own, as Entra's
    return jwt.encode(claims, "a signing key the client never checks, long enough", algorithm="HS256")


class IssuedTokens:
    """A TokenCredential handing out the current token, like azure-identity's cache; `rotate` issues the next."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: set[tuple[str, ...]] = set()

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.add(scopes)
        return AccessToken(self.token, int(jwt.decode(self.token, options={"verify_signature": False})["exp"]))

    def rotate(self, token: str) -> None:
        self.token = token


@pytest.fixture
async def acl(redis: Redis) -> AsyncIterator[Redis]:
    """The default (password-less) connection, to add ACL users; removes them afterwards."""
    yield redis
    await redis.acl_deluser(SERVICE_OID, RENEWED_OID)


def entra_settings(redis_server: RedisServer) -> ServiceSettings:
    return ServiceSettings(redis_url=redis_server.url, redis_auth="entra", pool_size=1)


async def test_the_token_signs_in_as_the_identitys_object_id_and_a_wrong_one_is_refused(
    redis_server: RedisServer, acl: Redis
) -> None:
    token = entra_token(SERVICE_OID, 3600)
    await acl.acl_setuser(
        SERVICE_OID, enabled=True, passwords=[f"+{token}"], keys="*", channels="*", commands=["+@all"]
    )
    credential = IssuedTokens(token)
    client = redis_client(entra_settings(redis_server), credential)
    try:
        assert await client.acl_whoami() == SERVICE_OID
        await client.set("greeting", "hello")
        assert await acl.get("greeting") == "hello"
        assert credential.scopes == {(REDIS_SCOPE,)}
    finally:
        await client.aclose()

    await acl.acl_log_reset()
    stranger = redis_client(entra_settings(redis_server), IssuedTokens(entra_token(SERVICE_OID, 3600)))
    try:
        with pytest.raises(redis_errors.AuthenticationError):
            await stranger.ping()
    finally:
        await stranger.aclose()
    refused = await acl.acl_log()
    assert {(entry["reason"], entry["username"]) for entry in refused} == {("auth", SERVICE_OID)}


async def test_an_open_connection_is_signed_in_again_with_the_renewed_token_before_the_old_one_expires(
    redis_server: RedisServer, acl: Redis
) -> None:
    """The renewed token is issued to another object id here, so the server shows which one the same connection
    now runs as; in Azure it is the same identity with a fresh token."""
    first, renewed = entra_token(SERVICE_OID, 3), entra_token(RENEWED_OID, 3600)
    for oid, token in ((SERVICE_OID, first), (RENEWED_OID, renewed)):
        await acl.acl_setuser(oid, enabled=True, passwords=[f"+{token}"], keys="*", commands=["+@all"])
    credential = IssuedTokens(first)
    client = redis_client(entra_settings(redis_server), credential)
    try:
        assert await client.acl_whoami() == SERVICE_OID
        connection = await client.client_id()
        credential.rotate(renewed)
        deadline = time.monotonic() + 3  # the first token's lifetime: renewed at 70% of it
        while await client.acl_whoami() != RENEWED_OID:
            assert time.monotonic() < deadline, "the connection was not signed in again before the token expired"
            await asyncio.sleep(0.1)
        assert await client.client_id() == connection  # the same connection, re-authenticated
    finally:
        await client.aclose()

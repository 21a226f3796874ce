"""Bearer-token checks every service shares: JWKS-validated JWTs (PyJWT) and role enforcement.

Tokens come from the account service's local issuer in local runs and from Microsoft Entra ID in Azure; both
publish their keys through OpenID discovery. Checks are on when `FABRIKAM_AUTH_ISSUER` is set.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
import jwt
from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fabrikam.workloads.kit.resilience import retry_transient
from fabrikam.workloads.kit.settings import ServiceSettings

ALGORITHMS = ["RS256"]
# An unknown key id triggers a refetch (keys rotate), but never more often than this.
MIN_REFRESH_SECONDS = 10.0


class Role(StrEnum):
    business_admin = "business_admin"
    customer = "customer"
    drone_operator = "drone_operator"


@dataclass(frozen=True)
class Principal:
    subject: str
    business_id: str | None
    roles: frozenset[str]


class InvalidToken(Exception):
    """The reason goes back to the caller in the 401."""


class TokenVerifier:
    """Validates RS256 tokens against the issuer's JWKS, fetched once and cached."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
        cache_seconds: float = 300.0,
        business_claim: str = "business_id",
        http: httpx.AsyncClient | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._cache_seconds = cache_seconds
        self._business_claim = business_claim
        self._http = http or httpx.AsyncClient(timeout=timeout_seconds)
        self._owns_http = http is None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._static = jwks is not None
        self._fetched = 0.0
        self._lock = asyncio.Lock()
        if jwks is not None:
            self._keys = _keys(jwks)
            self._fetched = float("inf")

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> "TokenVerifier | None":
        if not settings.auth_issuer:
            return None
        return cls(
            settings.auth_issuer,
            settings.auth_audience,
            jwks_url=settings.auth_jwks_url,
            cache_seconds=settings.auth_jwks_cache_seconds,
            business_claim=settings.auth_business_claim,
            timeout_seconds=settings.outbound_timeout_seconds,
        )

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(f"malformed token: {error}") from error
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
        roles = claims.get("roles") or []
        business = claims.get(self._business_claim)
        return Principal(str(claims["sub"]), str(business) if business else None, frozenset(map(str, roles)))

    async def _key(self, kid: str) -> jwt.PyJWK:
        stale = time.monotonic() - self._fetched > self._cache_seconds
        unknown_and_may_refresh = kid not in self._keys and time.monotonic() - self._fetched > MIN_REFRESH_SECONDS
        if not self._static and (stale or unknown_and_may_refresh):
            async with self._lock:
                if time.monotonic() - self._fetched > MIN_REFRESH_SECONDS or not self._keys:
                    try:
                        self._keys = _keys(await retry_transient(self._fetch_jwks, attempts=3))
                        self._fetched = time.monotonic()
                    except Exception as error:
                        if not self._keys:
                            raise InvalidToken(f"signing keys unavailable: {type(error).__name__}") from error
        if kid not in self._keys:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return self._keys[kid]

    async def _fetch_jwks(self) -> dict[str, Any]:
        if self._jwks_url is None:
            discovery = await self._http.get(f"{self._issuer.rstrip('/')}/.well-known/openid-configuration")
            discovery.raise_for_status()
            self._jwks_url = str(discovery.json()["jwks_uri"])
        response = await self._http.get(self._jwks_url)
        response.raise_for_status()
        keys: dict[str, Any] = response.json()
        return keys

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def _keys(jwks: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    return {str(key.key_id): key for key in jwt.PyJWKSet.from_dict(jwks).keys}


_bearer = HTTPBearer(auto_error=False, description="A bearer token from the account service or Entra ID")

Requirement = Callable[..., Awaitable[Principal | None]]


class Auth:
    """FastAPI dependencies; with no verifier (no issuer configured) every request passes as anonymous."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    async def principal(self, authorization: str | None) -> Principal | None:
        """For routes that read the header themselves (WebSocket): None when checks are off."""
        if self.verifier is None:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("a bearer token is required")
        return await self.verifier.verify(token.strip())

    def require(self, *roles: Role) -> Requirement:
        """A dependency: 401 without a valid token, 403 when the token has none of `roles` (any role if empty)."""
        allowed = frozenset(role.value for role in roles)

        async def dependency(
            credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        ) -> Principal | None:
            if self.verifier is None:
                return None
            header = f"Bearer {credentials.credentials}" if credentials else None
            try:
                principal = await self.principal(header)
            except InvalidToken as error:
                raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error
            assert principal is not None
            if allowed and not principal.roles & allowed:
                raise HTTPException(403, f"requires one of the roles {sorted(allowed)}")
            return principal

        return dependency

    async def close(self) -> None:
        if self.verifier is not None:
            await self.verifier.close()


def protected(auth: Auth, *routers: APIRouter) -> APIRouter:
    """The routers behind a valid token (any role); their routes may demand specific roles on top."""
    wrapper = APIRouter(dependencies=[Depends(auth.require())])
    for router in routers:
        wrapper.include_router(router)
    return wrapper

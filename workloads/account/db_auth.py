"""Signing in to Azure Database for PostgreSQL with Microsoft Entra ID: the pod's identity gets a token for the
database, which is the password of the PostgreSQL role named after the identity (the URL's user).

In Azure the operator provisions the flexible server with Entra authentication only (no passwords) and renders
`postgresql+asyncpg://<managed identity name>@<server>.postgres.database.azure.com:5432/accounts?ssl=require`.
asyncpg calls the engine's `password` for every new connection and awaits it, so each new connection signs in
with a current token; the credential caches its tokens and asks Entra ID again only near their expiry (after an
hour or so). The server checks the token only when a session starts: a pooled connection stays signed in after
its token has expired, so, unlike Redis, nothing is signed in again.
"""

from typing import Any, Literal

from azure.core.credentials_async import AsyncTokenCredential
from sqlalchemy.engine import make_url

DatabaseAuth = Literal["auto", "password", "entra"]

# Azure Database for PostgreSQL (flexible server) in Azure's public cloud; other clouds' hosts need
# FABRIKAM_DATABASE_AUTH=entra (and their own scope).
AZURE_POSTGRES_HOST_SUFFIXES = (".postgres.database.azure.com",)
POSTGRES_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
ENTRA_DRIVER = "postgresql+asyncpg"


def uses_entra(database_url: str, mode: DatabaseAuth) -> bool:
    """Whether to sign in with an Entra ID token: `entra`, or `auto` for an Azure Database for PostgreSQL host
    whose URL carries no password. A token needs asyncpg, and a role to sign in as; a URL that also carries a
    password is a contradiction."""
    url = make_url(database_url)
    if mode == "auto":
        entra = url.password is None and (url.host or "").endswith(AZURE_POSTGRES_HOST_SUFFIXES)
    else:
        entra = mode == "entra"
        if entra and url.password is not None:
            raise ValueError(
                "FABRIKAM_DATABASE_AUTH=entra signs in with a token: remove the password from FABRIKAM_DATABASE_URL"
            )
    if entra and url.drivername != ENTRA_DRIVER:
        raise ValueError(
            f"Entra ID sign-in to the database needs asyncpg: FABRIKAM_DATABASE_URL must start {ENTRA_DRIVER}://,"
            f" not {url.drivername}://"
        )
    if entra and not url.username:
        raise ValueError(
            "Entra ID sign-in to the database needs the role to sign in as: FABRIKAM_DATABASE_URL must be"
            f" {ENTRA_DRIVER}://<managed identity name>@<host>:5432/<database>"
        )
    return entra


class EntraPassword:
    """asyncpg's `password` for Entra ID sign-in: called, and awaited, for each new connection."""

    def __init__(self, credential: AsyncTokenCredential) -> None:
        self.credential = credential

    async def __call__(self) -> str:
        return (await self.credential.get_token(POSTGRES_SCOPE)).token


def entra_connect_args(database_url: str, credential: AsyncTokenCredential) -> dict[str, Any]:
    """asyncpg's arguments for signing in with `credential`'s tokens. A token is a bearer credential, so it never
    travels in clear: without `ssl=` in the URL the connection requires TLS (`require`, as libpq's sslmode); an
    `ssl=` in the URL (SQLAlchemy hands the URL's query to asyncpg.connect) says how, e.g. `verify-full`."""
    arguments: dict[str, Any] = {"password": EntraPassword(credential)}
    if "ssl" not in make_url(database_url).query:
        arguments["ssl"] = "require"
    return arguments

"""Which database URLs sign in with Microsoft Entra ID, what asyncpg is then given, and who closes the credential."""

import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from sqlalchemy.engine import make_url

from fabrikam.workloads.account import service
from fabrikam.workloads.account.db import engine_for
from fabrikam.workloads.account.db_auth import (
    POSTGRES_SCOPE,
    DatabaseAuth,
    EntraPassword,
    entra_connect_args,
    uses_entra,
)
from fabrikam.workloads.kit.service import Runtime
from fabrikam.workloads.kit.settings import ServiceSettings

AZURE_POSTGRES = "postgresql+asyncpg://id-fabrikam-account@fabrikam-dev.postgres.database.azure.com:5432/accounts"


class StaticToken:
    """An AsyncTokenCredential with one token (Azure cannot be reached here); remembers scopes and closing."""

    def __init__(self, token: str = "entra-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> "StaticToken":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


@pytest.mark.parametrize(
    ("url", "mode", "entra"),
    [
        (AZURE_POSTGRES + "?ssl=require", "auto", True),
        ("postgresql+asyncpg://fabrikam@127.0.0.1:5432/accounts", "auto", False),
        ("postgresql+asyncpg://admin:secret@fabrikam-dev.postgres.database.azure.com/accounts", "auto", False),
        ("sqlite+aiosqlite:///account.db", "auto", False),
        (AZURE_POSTGRES, "password", False),
        ("postgresql+asyncpg://id-fabrikam-account@postgres.internal.example:5432/accounts", "entra", True),
        ("postgresql+asyncpg://id@fabrikam.postgres.database.chinacloudapi.cn/accounts", "auto", False),
    ],
)
def test_entra_sign_in_is_for_azure_postgresql_hosts_without_a_password_or_when_asked(
    url: str, mode: DatabaseAuth, entra: bool
) -> None:
    assert uses_entra(url, mode) is entra


@pytest.mark.parametrize(
    ("url", "mode", "error"),
    [
        (
            "postgresql+asyncpg://id:secret@db.example/accounts",
            "entra",
            "FABRIKAM_DATABASE_AUTH=entra signs in with a token: remove the password from FABRIKAM_DATABASE_URL",
        ),
        (
            "postgresql+psycopg://id@fabrikam-dev.postgres.database.azure.com/accounts",
            "auto",
            "must start postgresql\\+asyncpg://, not postgresql\\+psycopg://",
        ),
        ("sqlite+aiosqlite:///account.db", "entra", "must start postgresql\\+asyncpg://"),
        (
            "postgresql+asyncpg://fabrikam-dev.postgres.database.azure.com/accounts",
            "auto",
            "the role to sign in as: FABRIKAM_DATABASE_URL must be postgresql\\+asyncpg://<managed identity name>@",
        ),
    ],
)
def test_entra_sign_in_that_cannot_work_stops_the_service_saying_what_to_change(
    url: str, mode: DatabaseAuth, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        uses_entra(url, mode)


def test_settings_take_the_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FABRIKAM_DATABASE_AUTH", raising=False)
    assert ServiceSettings().database_auth == "auto"
    monkeypatch.setenv("FABRIKAM_DATABASE_AUTH", "password")
    assert ServiceSettings().database_auth == "password"


async def test_the_password_asyncpg_awaits_is_a_token_for_the_database_scope() -> None:
    credential = StaticToken("token-1")
    password = entra_connect_args(AZURE_POSTGRES, credential)["password"]
    assert isinstance(password, EntraPassword)
    assert await password() == "token-1"
    credential.token = "token-2"
    assert await password() == "token-2"
    assert credential.scopes == [(POSTGRES_SCOPE,), (POSTGRES_SCOPE,)]


def test_a_token_requires_tls_unless_the_url_says_how() -> None:
    credential = StaticToken()
    assert entra_connect_args(AZURE_POSTGRES, credential)["ssl"] == "require"
    assert "ssl" not in entra_connect_args(AZURE_POSTGRES + "?ssl=verify-full", credential)


def test_the_urls_ssl_reaches_asyncpg_through_sqlalchemy() -> None:
    """SQLAlchemy's asyncpg dialect hands the URL's query to asyncpg.connect as keyword arguments."""
    engine = engine_for(AZURE_POSTGRES + "?ssl=require", StaticToken())
    _, arguments = engine.dialect.create_connect_args(make_url(AZURE_POSTGRES + "?ssl=require"))
    assert (arguments["ssl"], arguments["user"], arguments["host"]) == (
        "require",
        "id-fabrikam-account",
        "fabrikam-dev.postgres.database.azure.com",
    )
    assert "password" not in arguments


def account_settings(tmp_path: Path, database_url: str) -> ServiceSettings:
    return ServiceSettings(
        service="account",
        redis_url="redis://127.0.0.1:1/0",
        database_url=database_url,
        pii_key_file=str(tmp_path / "pii.key"),
        account_key_dir=str(tmp_path / "keys"),
    )


async def stop(settings: ServiceSettings, credential: StaticToken | None = None) -> None:
    """Build the account service (nothing connects yet) and run its stop steps."""
    runtime = Runtime.from_settings(settings)
    parts = service.build(runtime, credential)
    for step in parts.on_stop:
        await step()
    await runtime.close()


async def test_the_service_closes_the_credential_it_created_and_not_one_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[StaticToken] = []

    def default_credential() -> StaticToken:
        created.append(StaticToken())
        return created[-1]

    monkeypatch.setattr(service, "DefaultAzureCredential", default_credential)
    await stop(account_settings(tmp_path, AZURE_POSTGRES))
    assert [credential.closed for credential in created] == [True]

    given = StaticToken()
    await stop(account_settings(tmp_path, AZURE_POSTGRES), given)
    assert (len(created), given.closed) == (1, False)

    await stop(account_settings(tmp_path, "postgresql+asyncpg://fabrikam@127.0.0.1:5432/accounts"))
    assert len(created) == 1  # password sign-in: no credential at all

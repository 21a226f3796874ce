"""Entra ID sign-in to PostgreSQL against a real server, as Azure Database for PostgreSQL does it: the role is named
after the pod's managed identity, its password is the identity's current access token, and only TLS connections
may sign in. A stand-in for Entra ID issues the tokens (Azure cannot be reached here); here the role's password is
set to each token it issues, where Azure checks the token's signature instead."""

import contextlib
import datetime
import functools
import ipaddress
import shutil
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.asyncio import Redis
from sqlalchemy import text

from fabrikam.devcluster.localstack import PostgreSQL, RedisServer, free_port
from fabrikam.workloads.account.db import engine_for
from fabrikam.workloads.account.db_auth import POSTGRES_SCOPE
from fabrikam.workloads.account.service import NEEDS, build
from fabrikam.workloads.kit.service import app_for
from fabrikam.workloads.kit.settings import ServiceSettings

from .conftest import serving
from .test_workloads_account_postgres import secrets_dir, token

# Azure names the PostgreSQL role of a managed identity after the identity.
ROLE = "id-fabrikam-account"


def entra_token() -> str:
    """Shaped like an Entra access token for Azure Database for PostgreSQL (each one its own, as Entra's)."""
    now = int(time.time())
    claims = {"aud": "https://ossrdbms-aad.database.windows.net", "iat": now, "exp": now + 3600}
    claims["uti"] = uuid.uuid4().hex
    return jwt.encode(claims, "a signing key the client never checks, long enough", algorithm="HS256")


class IssuedTokens:
    """An AsyncTokenCredential handing out the current token, like azure-identity's cache; `rotate` issues the next."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.requests.append(scopes)
        return AccessToken(self.token, int(jwt.decode(self.token, options={"verify_signature": False})["exp"]))

    def rotate(self, token: str) -> None:
        self.token = token

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> "IssuedTokens":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


def self_signed(directory: Path, owner: str | None) -> None:
    """The server's certificate and key, as postgres wants them: in its data directory, the key private to it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (directory / "server.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (directory / "server.key").write_bytes(pem)
    (directory / "server.key").chmod(0o600)
    if owner:
        for path in (directory / "server.crt", directory / "server.key"):
            shutil.chown(path, owner, owner)


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    """A PostgreSQL of its own, where the identity's role signs in only over TLS and with its password (SCRAM);
    the fixture's user keeps its password-less sign-in, to set the role up and look at its sessions."""
    server = PostgreSQL(tmp_path_factory.mktemp("postgres-entra"))
    server.start()  # initdb, then configured while stopped
    server.stop()
    self_signed(server.data, server.owner)
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write("\nssl = on\npassword_encryption = 'scram-sha-256'\n")
    hba = server.data / "pg_hba.conf"
    only_tls = f'hostssl all "{ROLE}" 127.0.0.1/32 scram-sha-256\nhost all "{ROLE}" 127.0.0.1/32 reject\n'
    hba.write_text(only_tls + hba.read_text())
    server.start()
    yield server
    server.discard()


@contextlib.asynccontextmanager
async def superuser(server: PostgreSQL, database: str = "postgres") -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(host="127.0.0.1", port=server.port, user=server.user, database=database)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def identity_database(tls_postgres: PostgreSQL) -> AsyncIterator[tuple[str, IssuedTokens]]:
    """A database owned by the identity's role, whose password is the first token the stand-in issues; its URL
    as the operator renders it for Azure (no password, `ssl=require`)."""
    database = f"accounts_{uuid.uuid4().hex[:8]}"
    tls_postgres.create_database(database)  # waits until the server takes connections
    credential = IssuedTokens(entra_token())
    async with superuser(tls_postgres) as admin:
        await admin.execute(f"CREATE ROLE \"{ROLE}\" LOGIN PASSWORD '{credential.token}'")
        await admin.execute(f'ALTER DATABASE {database} OWNER TO "{ROLE}"')
    yield f"postgresql+asyncpg://{ROLE}@127.0.0.1:{tls_postgres.port}/{database}?ssl=require", credential
    async with superuser(tls_postgres) as admin:
        await admin.execute(f"DROP DATABASE {database} WITH (FORCE)")
        await admin.execute(f'DROP ROLE "{ROLE}"')


async def sessions_of_the_role(server: PostgreSQL) -> dict[int, bool]:
    """The role's server sessions: process id -> whether it is encrypted."""
    async with superuser(server) as admin:
        rows = await admin.fetch(
            "SELECT a.pid, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = $1", ROLE
        )
    return {row["pid"]: row["ssl"] for row in rows}


async def sign_in(server: PostgreSQL, password: str, *, tls: bool) -> None:
    connection = await asyncpg.connect(
        host="127.0.0.1",
        port=server.port,
        user=ROLE,
        password=password,
        database="postgres",
        ssl="require" if tls else "disable",
    )
    await connection.close()


async def test_the_server_takes_the_role_only_over_tls_and_with_its_current_password(
    tls_postgres: PostgreSQL, identity_database: tuple[str, IssuedTokens]
) -> None:
    """The setup the other tests rely on: a connection that signs in as the role was encrypted, and used the token
    that was current then."""
    _, credential = identity_database
    await sign_in(tls_postgres, credential.token, tls=True)
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="rejects connection"):
        await sign_in(tls_postgres, credential.token, tls=False)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await sign_in(tls_postgres, "not-the-token", tls=True)


async def test_the_account_service_signs_in_with_the_identitys_token_and_new_connections_take_the_renewed_one(
    tls_postgres: PostgreSQL,
    identity_database: tuple[str, IssuedTokens],
    redis_server: RedisServer,
    redis: Redis,
    tmp_path: Path,
) -> None:
    database_url, credential = identity_database
    settings = ServiceSettings(
        service="account",
        port=free_port(),
        redis_url=redis_server.url,
        database_url=database_url,
        database_auth="entra",  # `auto` picks it for *.postgres.database.azure.com hosts only
        secrets_dir=str(secrets_dir(tmp_path / "secrets")),
        auth_issuer="http://account.fabrikam.test",
    )
    app = app_for(settings, functools.partial(build, credential=credential), NEEDS)
    async with serving(app, settings.port) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        registered = await client.post(
            "/v1/businesses", json={"name": "Contoso", "contactEmail": "ops@contoso.example", "phone": "+14255550100"}
        )
        assert registered.status_code == 201, registered.text
        business_url = f"/v1/businesses/{registered.json()['business']['id']}"
        credentials = registered.json()["credentials"]
        headers = await token(client, credentials["clientId"], credentials["clientSecret"])
        first = await client.get(business_url, headers=headers)
        assert (first.status_code, first.json()["phone"]) == (200, "+14255550100"), first.text
        signed_in = await sessions_of_the_role(tls_postgres)
        assert signed_in
        assert all(signed_in.values()), signed_in  # every session of the role is encrypted
        assert set(credential.requests) == {(POSTGRES_SCOPE,)}
        tokens_taken = len(credential.requests)
        first_token = credential.token

        # The token is renewed (the role's password here); the open sessions stay signed in, as in Azure.
        renewed = entra_token()
        async with superuser(tls_postgres) as admin:
            await admin.execute(f"ALTER ROLE \"{ROLE}\" PASSWORD '{renewed}'")
        credential.rotate(renewed)
        pooled = await client.get(business_url, headers=headers)
        assert pooled.status_code == 200, pooled.text
        assert (await sessions_of_the_role(tls_postgres)).keys() == signed_in.keys()
        assert len(credential.requests) == tokens_taken  # no new connection, no new token

        # The server drops the sessions (a restart, a failover): the pool's new connections take the new token.
        async with superuser(tls_postgres) as admin:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", ROLE)
        again = await client.get(business_url, headers=headers)
        assert (again.status_code, again.json()["name"]) == (200, "Contoso"), again.text
        reconnected = await sessions_of_the_role(tls_postgres)
        assert reconnected
        assert all(reconnected.values()), reconnected
        assert not reconnected.keys() & signed_in.keys(), (signed_in, reconnected)
        assert len(credential.requests) > tokens_taken
        assert set(credential.requests) == {(POSTGRES_SCOPE,)}

    # So the new sessions signed in with the renewed token: the first one no longer would.
    with pytest.raises(asyncpg.InvalidPasswordError):
        await sign_in(tls_postgres, first_token, tls=True)


async def test_without_ssl_in_the_url_a_token_still_travels_only_over_tls(
    tls_postgres: PostgreSQL, identity_database: tuple[str, IssuedTokens]
) -> None:
    database_url, credential = identity_database
    engine = engine_for(database_url.removesuffix("?ssl=require"), credential)
    try:
        async with engine.connect() as connection:
            encrypted = await connection.scalar(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
            user = await connection.scalar(text("SELECT current_user"))
    finally:
        await engine.dispose()
    assert (encrypted, user) == (True, ROLE)
    assert credential.requests == [(POSTGRES_SCOPE,)]


async def test_the_url_the_operator_renders_verifies_the_servers_certificate(
    tls_postgres: PostgreSQL, identity_database: tuple[str, IssuedTokens], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ssl=verify-full` with PGSSLROOTCERT (the operator renders the image's CA bundle): a token goes only to the
    server whose certificate chains to a trusted root and names the host; any other server gets no token."""
    database_url, credential = identity_database
    verified = database_url.replace("ssl=require", "ssl=verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_postgres.data / "server.crt"))
    engine = engine_for(verified, credential)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT current_user")) == ROLE
    finally:
        await engine.dispose()

    stranger = tls_postgres.data.parent / "stranger"
    stranger.mkdir(exist_ok=True)
    self_signed(stranger, None)  # another certificate for the same address: not the one trusted
    monkeypatch.setenv("PGSSLROOTCERT", str(stranger / "server.crt"))
    credential.requests.clear()
    engine = engine_for(verified, credential)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()

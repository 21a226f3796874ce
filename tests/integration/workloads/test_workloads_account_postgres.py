"""The account service on PostgreSQL (asyncpg), as its pods run it: keys from a secrets directory shared by the
replicas, data in the database, so a restart or another replica sees the same businesses, tokens and PII."""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import PostgreSQL, RedisServer, free_port
from fabrikam.workloads.account.service import NEEDS, build
from fabrikam.workloads.kit.service import app_for
from fabrikam.workloads.kit.settings import ServiceSettings

from .conftest import serving

WEBHOOK_SECRET = "whsec-postgres"


def secrets_dir(directory: Path) -> Path:
    """The Key Vault objects as the CSI driver mounts them: `openssl rand -base64 32` and a PKCS#8 PEM RSA key."""
    directory.mkdir()
    (directory / "pii-key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (directory / "account-issuer-key").write_bytes(pem)
    (directory / "payments-webhook-secret").write_text(WEBHOOK_SECRET + "\n")
    return directory


def account_settings(database_url: str, redis_server: RedisServer, secrets: Path, port: int) -> ServiceSettings:
    return ServiceSettings(
        service="account",
        port=port,
        redis_url=redis_server.url,
        database_url=database_url,
        secrets_dir=str(secrets),
        # Every replica is the same issuer (the Service's URL in a cluster).
        auth_issuer="http://account.fabrikam.test",
    )


@contextlib.asynccontextmanager
async def account(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving(app_for(settings, build, NEEDS), settings.port) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        yield client


async def token(client: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = await client.post("/oauth2/token", data=form)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def signed(event: dict[str, Any], timestamp: int) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(event).encode()
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"Fabrikam-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json"}


async def test_businesses_users_and_tokens_survive_a_restart_with_pii_sealed_in_postgresql(
    postgres: PostgreSQL, redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    database_url = postgres.create_database("accounts_restart")
    secrets = secrets_dir(tmp_path / "secrets")
    settings = account_settings(database_url, redis_server, secrets, free_port())

    async with account(settings) as first:
        registered = await first.post(
            "/v1/businesses",
            json={
                "name": "Contoso",
                "contactEmail": "ops@contoso.example",
                "phone": "+14255550100",
                "address": "1 Main",
            },
        )
        assert registered.status_code == 201, registered.text
        business = registered.json()["business"]
        credentials = registered.json()["credentials"]
        headers = await token(first, credentials["clientId"], credentials["clientSecret"])
        user = await first.post(
            f"/v1/businesses/{business['id']}/users",
            json={"name": "Ana", "email": "ana@contoso.example", "role": "customer", "phone": "+14255550199"},
            headers=headers,
        )
        assert user.status_code == 201, user.text
        user_url = f"/v1/businesses/{business['id']}/users/{user.json()['id']}"
        raw, signature = signed(
            {
                "id": "evt-pg",
                "type": "payment.succeeded",
                "businessId": business["id"],
                "amountCents": 4200,
                "currency": "USD",
            },
            int(time.time()),
        )
        paid = await first.post("/v1/payments/webhook", content=raw, headers=signature)
        assert (paid.status_code, paid.json()["status"]) == (200, "processed"), paid.text

    async with account(settings) as restarted:
        # The token from before the restart is still good: the signing key is the mounted one, not a new one.
        read_business = await restarted.get(f"/v1/businesses/{business['id']}", headers=headers)
        read_user = await restarted.get(user_url, headers=headers)
        fresh_headers = await token(restarted, credentials["clientId"], credentials["clientSecret"])
        # The processor's retry of the same event, signed anew: it took effect once, before the restart.
        _, resigned = signed(json.loads(raw), int(time.time()) + 1)
        again = await restarted.post("/v1/payments/webhook", content=raw, headers=resigned)

    assert read_business.status_code == 200, read_business.text
    assert (read_business.json()["name"], read_business.json()["phone"]) == ("Contoso", "+14255550100")
    assert read_business.json()["balanceCents"] == 4200
    assert (read_user.json()["email"], read_user.json()["phone"]) == ("ana@contoso.example", "+14255550199")
    assert fresh_headers["Authorization"].startswith("Bearer ")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert sorted(path.name for path in secrets.iterdir()) == [
        "account-issuer-key",
        "payments-webhook-secret",
        "pii-key",
    ]

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        sealed = await connection.fetch(
            "SELECT phone_sealed FROM businesses WHERE phone_sealed IS NOT NULL"
            " UNION ALL SELECT phone_sealed FROM users"
        )
        created_type = await connection.fetchval(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'created_at'"
        )
    finally:
        await connection.close()
    assert len(sealed) == 2
    assert all(row["phone_sealed"].startswith("v1:") for row in sealed)
    assert created_type == "timestamp with time zone"


async def test_two_replicas_starting_together_share_one_schema_one_issuer_and_one_pii_key(
    postgres: PostgreSQL, redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    database_url = postgres.create_database("accounts_replicas")
    secrets = secrets_dir(tmp_path / "secrets")
    replica_a = account_settings(database_url, redis_server, secrets, free_port())
    replica_b = replica_a.model_copy(update={"port": free_port()})

    async with contextlib.AsyncExitStack() as stack:
        a, b = await asyncio.gather(*(stack.enter_async_context(account(s)) for s in (replica_a, replica_b)))
        registered = await a.post(
            "/v1/businesses",
            json={"name": "Northwind", "contactEmail": "ops@northwind.example", "address": "9 Harbor Way"},
        )
        credentials = registered.json()["credentials"]
        headers_from_a = await token(a, credentials["clientId"], credentials["clientSecret"])
        read_on_b = await b.get(f"/v1/businesses/{registered.json()['business']['id']}", headers=headers_from_a)
        jwks_a, jwks_b = (await a.get("/.well-known/jwks.json")).json(), (await b.get("/.well-known/jwks.json")).json()
        demo_on_b = await token(b, "demo-business", "demo-secret")

    assert read_on_b.status_code == 200, read_on_b.text
    assert read_on_b.json()["address"] == "9 Harbor Way"
    assert jwks_a == jwks_b
    assert demo_on_b["Authorization"].startswith("Bearer ")


async def test_input_postgresql_cannot_store_is_refused_with_a_4xx_naming_the_field(
    postgres: PostgreSQL, redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    """Each of these answered 500 from PostgreSQL (found by fuzzing the OpenAPI): a NUL in text, an email longer
    than its column, an address whose ciphertext outgrows its column, a NUL in a client id."""
    settings = account_settings(
        postgres.create_database("accounts_inputs"), redis_server, secrets_dir(tmp_path / "secrets"), free_port()
    )
    business = {"name": "Contoso", "contactEmail": "ops@contoso.example"}
    refused = {
        "name": {**business, "name": "Con\u0000toso"},
        "contactEmail": {**business, "contactEmail": "ops@" + "c" * 190 + "." + "a" * 63},
        "address": {**business, "address": "\U0001f4e6" * 185},  # 185 characters, 740 bytes
    }
    async with account(settings) as client:
        for field, body in refused.items():
            response = await client.post("/v1/businesses", json=body)
            assert response.status_code == 422, response.text
            assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
        longest = await client.post("/v1/businesses", json={**business, "address": "\U0001f4e6" * 184})
        assert longest.status_code == 201, longest.text
        assert longest.json()["business"]["address"] == "\U0001f4e6" * 184

        nul_client = {"grant_type": "client_credentials", "client_id": "demo\u0000", "client_secret": "x"}
        unknown = await client.post("/oauth2/token", data=nul_client)
        assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
        not_utf8 = await client.post(
            "/oauth2/token", content=b"grant_type=client_credentials&client_id=\xff", headers=FORM
        )
        assert (not_utf8.status_code, not_utf8.json()["error"]) == (400, "invalid_request")
        bad_basic = await client.post(
            "/oauth2/token", content=b"grant_type=client_credentials", headers={**FORM, "Authorization": "Basic %%%"}
        )
        assert (bad_basic.status_code, bad_basic.json()["error"]) == (400, "invalid_request")

        raw, headers = signed({"id": "evt-1"}, int(time.time()))
        forged = await client.post(
            "/v1/payments/webhook",
            content=raw,
            headers={**headers, "Fabrikam-Signature": "t=1,v1=\u00e9".encode("latin-1")},
        )
        assert (forged.status_code, forged.json()["detail"]) == (401, "signature does not match")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}

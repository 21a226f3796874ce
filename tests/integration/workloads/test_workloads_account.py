"""The account service on SQLite and real Redis: registration, profiles with PII sealed at rest, the local
issuer's tokens accepted by other services through the JWKS, and the payments webhook."""

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, free_port
from fabrikam.workloads.account import payments
from fabrikam.workloads.account.issuer import LocalIssuer, load_signing_key
from fabrikam.workloads.account.service import build as build_account
from fabrikam.workloads.ingestion.service import build as build_ingestion
from fabrikam.workloads.kit.auth import InvalidToken, TokenVerifier
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import KeyFile, ServiceSettings
from fabrikam.workloads.telemetry.service import build as build_telemetry

from .conftest import serving

SECRET = "whsec-test"


@dataclass
class Account:
    url: str
    client: httpx.AsyncClient
    database: Path
    settings: ServiceSettings

    async def token(self, client_id: str = "demo-business", secret: str = "demo-secret") -> str:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        response = await self.client.post("/oauth2/token", data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture
async def account(redis_server: RedisServer, redis: Redis, tmp_path: Path) -> AsyncIterator[Account]:
    port = free_port()
    settings = ServiceSettings(
        service="account",
        port=port,
        auth_issuer=f"http://127.0.0.1:{port}",
        redis_url=redis_server.url,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'account.db'}",
        account_key_dir=str(tmp_path / "keys"),
        pii_key_file=str(tmp_path / "keys" / "pii.key"),
        payments_webhook_secret=SECRET,
    )
    async with (
        serving(create_app(Runtime.from_settings(settings), build_account), port) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Account(url, client, tmp_path / "account.db", settings)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_demo_client_gets_a_token_that_verifies_against_the_published_jwks(account: Account) -> None:
    discovery = (await account.client.get("/.well-known/openid-configuration")).json()
    assert (discovery["issuer"], discovery["jwks_uri"]) == (account.url, f"{account.url}/.well-known/jwks.json")
    verifier = TokenVerifier(discovery["issuer"], "fabrikam")
    principal = await verifier.verify(await account.token())
    assert (principal.business_id, principal.roles) == ("fabrikam-demo", frozenset({"business_admin"}))
    fleet = await verifier.verify(await account.token("demo-fleet"))
    assert fleet.roles == frozenset({"drone_operator"})
    with pytest.raises(InvalidToken, match="Audience"):
        await TokenVerifier(discovery["issuer"], "someone-else").verify(await account.token())
    same_key = load_signing_key(KeyFile(Path(str(account.settings.account_key_dir)) / "issuer-key.pem", create=False))
    expired, _ = LocalIssuer(account.url, "fabrikam", same_key, lifetime_seconds=-120).issue("x", "fabrikam-demo", [])
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(expired)
    other_key = load_signing_key(KeyFile(account.database.with_name("other.pem"), create=True))
    foreign_key, _ = LocalIssuer(account.url, "fabrikam", other_key, 60).issue("x", "y", [])
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(foreign_key)
    await verifier.close()
    wrong = await account.client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": "demo-business", "client_secret": "x"}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    grant = await account.client.post("/oauth2/token", data={"grant_type": "password"})
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")


async def test_profile_updates_change_only_what_they_name_and_seal_new_pii(account: Account) -> None:
    registered = await account.client.post(
        "/v1/businesses",
        json={"name": "Fabrikam", "contactEmail": "ops@fabrikam.example", "phone": "+14255550100", "address": "1 Main"},
    )
    business = registered.json()["business"]
    credentials = registered.json()["credentials"]
    token = await account.token(credentials["clientId"], credentials["clientSecret"])
    user = await account.client.post(
        f"/v1/businesses/{business['id']}/users",
        json={"name": "Ana", "email": "ana@fabrikam.example", "role": "customer", "phone": "+14255550199"},
        headers=auth(token),
    )
    user_url = f"/v1/businesses/{business['id']}/users/{user.json()['id']}"

    patched_business = await account.client.patch(
        f"/v1/businesses/{business['id']}", json={"phone": "+14255550111"}, headers=auth(token)
    )
    patched_user = await account.client.patch(user_url, json={"address": "7 Pine St, Kirkland"}, headers=auth(token))
    read_user = await account.client.get(user_url, headers=auth(token))

    assert patched_business.status_code == 200, patched_business.text
    assert (patched_business.json()["name"], patched_business.json()["phone"]) == ("Fabrikam", "+14255550111")
    assert patched_business.json()["address"] == "1 Main"
    assert patched_user.status_code == 200, patched_user.text
    assert (read_user.json()["phone"], read_user.json()["address"]) == ("+14255550199", "7 Pine St, Kirkland")
    raw = account.database.read_bytes()
    for clear in (b"+14255550111", b"Pine St"):
        assert clear not in raw


async def test_profiles_keep_pii_encrypted_at_rest_and_only_the_business_reads_them(account: Account) -> None:
    registered = await account.client.post(
        "/v1/businesses",
        json={"name": "Contoso", "contactEmail": "ops@contoso.example", "phone": "+14255550100", "address": "1 Main"},
    )
    assert registered.status_code == 201, registered.text
    business = registered.json()["business"]
    credentials = registered.json()["credentials"]
    token = await account.token(credentials["clientId"], credentials["clientSecret"])
    user = await account.client.post(
        f"/v1/businesses/{business['id']}/users",
        json={
            "name": "Ana",
            "email": "ana@contoso.example",
            "role": "customer",
            "phone": "+14255550199",
            "address": "42 Elm St, Redmond",
        },
        headers=auth(token),
    )
    assert (user.status_code, user.json()["phone"]) == (201, "+14255550199")
    read = await account.client.get(f"/v1/businesses/{business['id']}/users/{user.json()['id']}", headers=auth(token))
    assert read.json().get("address") == "42 Elm St, Redmond", read.text

    with sqlite3.connect(account.database) as database:
        rows = database.execute("SELECT phone_sealed, address_sealed FROM users").fetchall()
        raw = account.database.read_bytes()
    assert all(value.startswith("v1:") for row in rows for value in row)
    for clear in (b"+14255550199", b"Elm St", b"+14255550100"):
        assert clear not in raw

    demo_token = await account.token()
    other = await account.client.get(f"/v1/businesses/{business['id']}", headers=auth(demo_token))
    assert (other.status_code, other.json()["detail"]) == (403, f"not an administrator of business {business['id']}")
    anonymous = await account.client.get(f"/v1/businesses/{business['id']}")
    assert anonymous.status_code == 401
    bad = await account.client.post("/v1/businesses", json={"name": "X", "contactEmail": "x@y.example", "phone": "42"})
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["body", "phone"])


def delivery(owner: str) -> dict[str, Any]:
    return {
        "owner": owner,
        "pickup": {"latitude": 47.6, "longitude": -122.3, "address": "1 Pike St"},
        "dropoff": {"latitude": 47.61, "longitude": -122.33, "address": "2 Pine St"},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "package": {"size": "small", "weightKg": 1, "tag": "t"},
    }


async def test_ingestion_takes_requests_only_for_the_callers_own_business(
    account: Account, redis_server: RedisServer, redis: Redis
) -> None:
    settings = ServiceSettings(service="ingestion", redis_url=redis_server.url, auth_issuer=account.url)
    app = create_app(Runtime.from_settings(settings), build_ingestion)
    registered = await account.client.post("/v1/businesses", json={"name": "Rival", "contactEmail": "r@r.example"})
    rival = registered.json()["credentials"]
    demo_token, rival_token = await account.token(), await account.token(rival["clientId"], rival["clientSecret"])
    fleet_token = await account.token("demo-fleet")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingestion") as ingestion:
        anonymous = await ingestion.post("/v1/deliveryrequests", json=delivery("fabrikam-demo"))
        forged = await ingestion.post(
            "/v1/deliveryrequests", json=delivery("fabrikam-demo"), headers=auth(demo_token[:-4] + "AAAA")
        )
        rival_post = await ingestion.post(
            "/v1/deliveryrequests", json=delivery("fabrikam-demo"), headers=auth(rival_token)
        )
        operator = await ingestion.post(
            "/v1/deliveryrequests", json=delivery("fabrikam-demo"), headers=auth(fleet_token)
        )
        assert [r.status_code for r in (anonymous, forged, rival_post, operator)] == [401, 401, 403, 403]
        assert await redis.xlen("queue:delivery-requests") == 0
        accepted = await ingestion.post(
            "/v1/deliveryrequests", json=delivery("fabrikam-demo"), headers=auth(demo_token)
        )
        assert accepted.status_code == 202
        delivery_id = accepted.json()["deliveryId"]
        rival_cancel = await ingestion.delete(f"/v1/deliveryrequests/{delivery_id}", headers=auth(rival_token))
        own_cancel = await ingestion.delete(f"/v1/deliveryrequests/{delivery_id}", headers=auth(demo_token))
        assert (rival_cancel.status_code, own_cancel.status_code) == (403, 202)
    assert await redis.xlen("queue:delivery-requests") == 2


def signed(body: dict[str, Any], secret: str = SECRET, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {
        payments.HEADER: payments.sign(secret, at or int(time.time()), raw),
        "Content-Type": "application/json",
    }


async def balance(account: Account) -> int:
    token = await account.token()
    return int((await account.client.get("/v1/businesses/fabrikam-demo", headers=auth(token))).json()["balanceCents"])


async def test_the_payments_webhook_processes_each_event_once_and_refuses_forgeries_and_replays(
    account: Account,
) -> None:
    event = {
        "id": "evt-1",
        "type": "payment.succeeded",
        "businessId": "fabrikam-demo",
        "amountCents": 1250,
        "currency": "USD",
    }
    raw, headers = signed(event)
    first = await account.client.post("/v1/payments/webhook", content=raw, headers=headers)
    assert (first.status_code, first.json()["status"]) == (200, "processed")
    assert await balance(account) == 1250

    replay = await account.client.post("/v1/payments/webhook", content=raw, headers=headers)
    assert (replay.status_code, replay.json()["detail"]) == (
        409,
        "replayed request: this signature was already received",
    )
    retried_raw, retried_headers = signed(event, at=int(time.time()) + 1)  # the processor's retry, re-signed
    retried = await account.client.post("/v1/payments/webhook", content=retried_raw, headers=retried_headers)
    assert (retried.status_code, retried.json()["status"]) == (200, "duplicate")

    forged_raw, forged_headers = signed({**event, "id": "evt-2", "amountCents": 999_999}, secret="guessed")
    forged = await account.client.post("/v1/payments/webhook", content=forged_raw, headers=forged_headers)
    tampered = await account.client.post(
        "/v1/payments/webhook", content=raw.replace(b"1250", b"9250"), headers=signed(event, at=int(time.time()) + 2)[1]
    )
    stale_raw, stale_headers = signed({**event, "id": "evt-3"}, at=int(time.time()) - 3600)
    stale = await account.client.post("/v1/payments/webhook", content=stale_raw, headers=stale_headers)
    unsigned = await account.client.post("/v1/payments/webhook", content=raw)
    assert [(r.status_code, r.json()["detail"]) for r in (forged, tampered, stale, unsigned)] == [
        (401, "signature does not match"),
        (401, "signature does not match"),
        (401, "stale timestamp"),
        (401, "missing Fabrikam-Signature header"),
    ]
    assert await balance(account) == 1250


async def test_telemetry_takes_reports_only_from_drone_operators_over_http_and_websocket(
    account: Account, redis_server: RedisServer, redis: Redis
) -> None:
    settings = ServiceSettings(service="drone-telemetry", redis_url=redis_server.url, auth_issuer=account.url)
    report = {
        "droneId": "drone-1",
        "latitude": 47.6,
        "longitude": -122.3,
        "altitudeM": 50,
        "battery": 80,
        "speedMps": 10,
        "flightMode": "cruise",
        "reportedAt": datetime.now(UTC).isoformat(),
    }
    fleet, business = await account.token("demo-fleet"), await account.token()
    async with serving(create_app(Runtime.from_settings(settings), build_telemetry)) as url:
        async with httpx.AsyncClient(base_url=url) as telemetry:
            anonymous = await telemetry.post("/v1/telemetry", json={"reports": [report]})
            wrong_role = await telemetry.post("/v1/telemetry", json={"reports": [report]}, headers=auth(business))
            accepted = await telemetry.post("/v1/telemetry", json={"reports": [report]}, headers=auth(fleet))
            assert [r.status_code for r in (anonymous, wrong_role, accepted)] == [401, 403, 202]
        stream = url.replace("http", "ws") + "/v1/telemetry/stream"
        for headers in ({}, auth(business)):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(stream, additional_headers=headers)
            assert refused.value.response.status_code == 403
        async with websockets.connect(stream, additional_headers=auth(fleet)) as socket:
            await socket.send(json.dumps({**report, "reportedAt": datetime.now(UTC).isoformat()}))
            assert json.loads(await socket.recv()) == {"accepted": 1, "published": 1}

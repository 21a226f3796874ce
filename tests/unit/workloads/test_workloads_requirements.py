"""No silent defaults: a service missing a connection or key it uses is live but not ready, and says what to set."""

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabrikam.workloads.entrypoint import SERVICES, builder
from fabrikam.workloads.kit.requirements import Need, missing
from fabrikam.workloads.kit.service import RUNTIME_NEEDS, app_for
from fabrikam.workloads.kit.settings import KeyFile, ServiceSettings

REDIS = "redis://redis.fabrikam.test:6379/0"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REDIS_URL",
        "MONGO_URL",
        "MONGO_URL_FILE",
        "DATABASE_URL",
        "SMTP_HOST",
        "SECRETS_DIR",
        "PII_KEY_FILE",
    ):
        monkeypatch.delenv(f"FABRIKAM_{name}", raising=False)


def needs_of(service: str) -> tuple[Need, ...]:
    return (*RUNTIME_NEEDS, *builder(service)[1])


@pytest.mark.parametrize(
    ("service", "settings", "failing"),
    [
        ("ingestion", {}, {"redis": "not configured: set FABRIKAM_REDIS_URL"}),
        (
            "package",
            {"redis_url": REDIS},
            {"mongo": "not configured: set FABRIKAM_MONGO_URL or FABRIKAM_MONGO_URL_FILE"},
        ),
        (
            "workflow",
            {"broker": "servicebus"},
            {
                "redis": "not configured: set FABRIKAM_REDIS_URL",
                "broker": "not configured: set FABRIKAM_SERVICEBUS_NAMESPACE (FABRIKAM_BROKER=servicebus)",
            },
        ),
        (
            "account",
            {"redis_url": REDIS},
            {
                "database": "not configured: set FABRIKAM_DATABASE_URL",
                "pii-key": "not configured: set FABRIKAM_SECRETS_DIR or FABRIKAM_PII_KEY_FILE"
                " (the secrets directory holds pii-key)",
                "issuer": "not configured: set FABRIKAM_SECRETS_DIR or FABRIKAM_ACCOUNT_KEY_DIR"
                " (the secrets directory holds account-issuer-key)",
            },
        ),
        (
            "account",
            {
                "redis_url": REDIS,
                "database_url": "postgresql+asyncpg://a@db/a",
                "pii_key_file": "k",
                "account_local_issuer": False,
            },
            {
                "issuer": "not configured: set FABRIKAM_AUTH_ISSUER (the local issuer is off)",
            },
        ),
        (
            "notification",
            {"redis_url": REDIS, "pii_key_file": "k"},
            {
                "email": "not configured: set FABRIKAM_SMTP_HOST",
            },
        ),
        (
            "notification",
            {"redis_url": REDIS, "pii_key_file": "k", "email_provider": "sendgrid"},
            {
                "email": "not configured: set FABRIKAM_SENDGRID_API_KEY (or the sendgrid-api-key secret file)",
            },
        ),
    ],
)
def test_each_service_names_exactly_the_settings_it_uses_and_lacks(
    service: str, settings: dict[str, Any], failing: dict[str, str]
) -> None:
    assert missing(ServiceSettings(service=service, **settings), needs_of(service)) == failing


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_is_complete_with_its_connections_and_keys(service: str, tmp_path: Path) -> None:
    settings = ServiceSettings(
        service=service,
        redis_url=REDIS,
        mongo_url="mongodb://mongo.fabrikam.test:27017",
        database_url="postgresql+asyncpg://account@db.fabrikam.test:5432/accounts",
        smtp_host="smtp.fabrikam.test",
        pii_key_file=str(tmp_path / "pii.key"),
        account_key_dir=str(tmp_path),
    )
    assert missing(settings, needs_of(service)) == {}


def test_keys_come_from_the_secrets_dir_and_are_never_generated_there(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    mounted = ServiceSettings(secrets_dir=str(secrets), account_key_dir=str(tmp_path / "local"))
    assert mounted.pii_key() == KeyFile(secrets / "pii-key", create=False)
    assert mounted.issuer_key() == KeyFile(secrets / "account-issuer-key", create=False)
    named = ServiceSettings(secrets_dir=str(secrets), pii_key_file=str(secrets / "pii-key"), pii_key_create=True)
    assert named.pii_key() == KeyFile(secrets / "pii-key", create=False)
    assert missing(mounted, (Need.PII_KEY, Need.ISSUER)) == {
        "pii-key": f"not configured: no key file {secrets / 'pii-key'}",
        "issuer": f"not configured: no key file {secrets / 'account-issuer-key'}",
    }
    local = ServiceSettings(pii_key_file=str(tmp_path / "pii.key"), account_key_dir=str(tmp_path / "local"))
    assert local.pii_key() == KeyFile(tmp_path / "pii.key", create=True)
    assert local.issuer_key() == KeyFile(tmp_path / "local" / "issuer-key.pem", create=True)
    assert (ServiceSettings().pii_key(), ServiceSettings().issuer_key()) == (None, None)


async def test_an_unconfigured_service_is_live_but_not_ready_and_says_so_in_its_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    build, needs = builder("package")
    with caplog.at_level(logging.ERROR):
        app = app_for(ServiceSettings(service="package", redis_url=REDIS), build, needs)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://package") as client:
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
        api = await client.get("/v1/packages/p-1")
    assert live.status_code == 200
    assert (ready.status_code, ready.json()) == (
        503,
        {
            "status": "unavailable",
            "failing": {"mongo": "not configured: set FABRIKAM_MONGO_URL or FABRIKAM_MONGO_URL_FILE"},
        },
    )
    assert api.status_code == 404
    assert (
        "not ready until configured: mongo: not configured: set FABRIKAM_MONGO_URL or FABRIKAM_MONGO_URL_FILE"
        in caplog.text
    )

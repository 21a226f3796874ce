"""The platform's Azure databases as a specification: given a spec, these ARM bodies, grants, files and settings."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.azure import Kind, access_resources, naming, platform_resources
from fabrikam.operator.azure.desired import KEY_VAULT_SECRETS_USER, mongo_secret, stale_grants
from fabrikam.operator.azure.drift import differences
from fabrikam.operator.azure.reconciler import provisioning_state
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.labels import CONFIG_HASH
from fabrikam.operator.render.service import ServiceFacts, render_drone_service
from fabrikam.operator.render.validation import validate_drone_service

PRINCIPAL = "0d5b4a38-7f4c-4f3e-9d44-21b7a63f6b0e"
DATABASES = {"cosmosDb": {"maxThroughput": 6000}, "postgres": {"backupRetentionDays": 21}}


@pytest.fixture
def platform(make_platform: Any) -> DeliveryPlatform:
    built: DeliveryPlatform = make_platform(azure={"keyVaultName": "kv-fabrikam"}, databases=DATABASES)
    return built


def _bundled(platform: DeliveryPlatform, name: str) -> DroneService:
    return next(svc for svc in bundled_services(platform) if svc.name == name)


def _of(platform: DeliveryPlatform, kind: Kind) -> list[Any]:
    return [r for r in platform_resources(platform) if r.kind is kind]


def test_cosmos_db_is_zone_redundant_continuously_backed_up_and_autoscaled_to_the_spec_maximum(
    platform: DeliveryPlatform,
) -> None:
    [account] = _of(platform, Kind.COSMOS_ACCOUNT)
    [database] = _of(platform, Kind.MONGO_DATABASE)
    [collection] = _of(platform, Kind.MONGO_COLLECTION)

    assert account.body["kind"] == "MongoDB"
    properties = account.body["properties"]
    assert properties["locations"] == [{"locationName": "westus2", "failoverPriority": 0, "isZoneRedundant": True}]
    assert properties["backupPolicy"] == {
        "type": "Continuous",
        "continuousModeProperties": {"tier": "Continuous30Days"},
    }
    assert properties["disableKeyBasedMetadataWriteAccess"] is True
    assert properties["minimalTlsVersion"] == "Tls12"
    # Seed: 10,000 RU/s provisioned around the clock; now autoscale up to the spec's maximum.
    assert database.name == "packages"
    assert database.body["properties"]["options"] == {"autoscaleSettings": {"maxThroughput": 6000}}
    assert collection.body["properties"]["resource"]["shardKey"] == {"tag": "Hash"}
    assert {"key": {"keys": ["_id"]}} in collection.body["properties"]["resource"]["indexes"]
    # Each level is the child of the one before (the reconciler creates them in that order).
    assert database.id.startswith(account.id + "/mongodbDatabases/")
    assert collection.id.startswith(database.id + "/collections/")
    assert account.body["tags"]["service"] == "cosmosdb"


def test_postgres_signs_in_with_entra_only_and_keeps_a_zone_redundant_standby(platform: DeliveryPlatform) -> None:
    [server] = _of(platform, Kind.POSTGRES_SERVER)
    [database] = _of(platform, Kind.POSTGRES_DATABASE)

    properties = server.body["properties"]
    assert properties["authConfig"] == {
        "activeDirectoryAuth": "Enabled",
        "passwordAuth": "Disabled",
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    }
    assert "administratorLogin" not in properties  # no password exists to leak
    assert properties["highAvailability"] == {"mode": "ZoneRedundant", "standbyAvailabilityZone": "2"}
    assert properties["availabilityZone"] == "1"
    assert properties["backup"] == {"backupRetentionDays": 21, "geoRedundantBackup": "Disabled"}
    assert server.body["sku"] == {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"}
    assert database.name == "accounts"
    assert database.parent == server.name


def test_a_platform_without_databases_provisions_none(make_platform: Any) -> None:
    kinds = {r.kind for r in platform_resources(make_platform())}

    assert not kinds & {Kind.COSMOS_ACCOUNT, Kind.POSTGRES_SERVER, Kind.MONGO_DATABASE, Kind.POSTGRES_DATABASE}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"databases": {"postgres": {"tier": "Burstable", "highAvailability": "ZoneRedundant"}}}, "highAvailability"),
        ({"databases": {"cosmosDb": {"maxThroughput": 4500}}}, "maxThroughput"),
        ({"databases": {"cosmosDb": {}}}, "keyVaultName"),
    ],
)
def test_impossible_database_specs_are_refused_naming_the_field(
    make_platform: Any, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_platform(**change)


def test_databases_without_azure_are_refused(make_platform: Any) -> None:
    body = make_platform().model_dump(mode="json", by_alias=True, exclude_none=True)
    del body["spec"]["azure"]
    body["spec"]["databases"] = {"postgres": {}}
    with pytest.raises(ValidationError, match=r"spec\.databases needs spec\.azure"):
        DeliveryPlatform.model_validate(body)


def test_account_identity_signs_in_to_postgres_and_package_reads_the_key_vault(platform: DeliveryPlatform) -> None:
    account = access_resources(_bundled(platform, "account"), platform, principal_id=PRINCIPAL)
    package = access_resources(_bundled(platform, "package"), platform, principal_id=PRINCIPAL)

    [admin] = [g for g in account if g.kind is Kind.POSTGRES_ADMINISTRATOR]
    assert admin.name == PRINCIPAL
    assert admin.body["properties"]["principalName"] == naming.identity_name("prod", "shipping", "account")
    assert admin.parent == naming.postgres_server_name(platform.spec.azure.subscription_id, "rg-fabrikam", "prod")  # type: ignore[union-attr]
    vault_grants = [g for g in package if g.kind is Kind.ROLE_ASSIGNMENT and g.scope and "KeyVault" in g.scope]
    assert [g.scope for g in vault_grants] == [
        f"/subscriptions/{platform.spec.azure.subscription_id}/resourceGroups/rg-fabrikam/providers/"  # type: ignore[union-attr]
        "Microsoft.KeyVault/vaults/kv-fabrikam"
    ]
    assert vault_grants[0].body["properties"]["roleDefinitionId"].endswith(KEY_VAULT_SECRETS_USER)
    assert not [g for g in package if g.kind is Kind.POSTGRES_ADMINISTRATOR]  # package uses no SQL


def test_a_team_service_gets_neither_shared_database_and_is_told_why(
    platform: DeliveryPlatform, make_service: Any
) -> None:
    team = make_service("ledger", uses=[{"kind": "sql", "name": "ledger"}, {"kind": "mongo", "name": "ledger"}])

    grants = access_resources(team, platform, principal_id=PRINCIPAL)
    problems = {(p.reason, p.field): str(p) for p in validate_drone_service(team, platform=platform, peers=[])}

    assert not [g for g in grants if g.kind is Kind.POSTGRES_ADMINISTRATOR]
    assert "administers the whole server" in problems[("StoreNotProvided", "spec.uses[0]")]
    assert "opens every database" in problems[("StoreNotProvided", "spec.uses[1]")]


def test_a_key_vault_grant_no_longer_needed_is_stale(platform: DeliveryPlatform, make_service: Any) -> None:
    vault = (
        f"/subscriptions/{platform.spec.azure.subscription_id}/resourceGroups/rg-fabrikam/providers/"  # type: ignore[union-attr]
        "Microsoft.KeyVault/vaults/kv-fabrikam"
    )
    held = {
        "id": f"{vault}/providers/Microsoft.Authorization/roleAssignments/1",
        "name": "1",
        "properties": {
            "scope": vault,
            "principalId": PRINCIPAL,
            "roleDefinitionId": naming.role_definition_id(
                platform.spec.azure.subscription_id,  # type: ignore[union-attr]
                KEY_VAULT_SECRETS_USER,
            ),
            "description": "fabrikam-operator: shipping/returns reads secrets of the platform's Key Vault",
        },
    }
    by_hand = held | {"properties": held["properties"] | {"description": "granted by a person"}}  # type: ignore[operator]

    stale = stale_grants(
        make_service("returns"),
        platform,
        principal_id=PRINCIPAL,
        role_assignments=[held, by_hand],
        redis_assignments=[],
        redis_policies=[],
    )

    assert [s.scope for s in stale] == [vault]  # the operator's own, never the one a person made


def test_the_connection_string_secret_is_compared_by_its_fingerprint_never_by_its_value(
    platform: DeliveryPlatform,
) -> None:
    value = "mongodb://acct:key@acct.mongo.cosmos.azure.com:10255/?ssl=true"
    secret = mongo_secret(platform, value, fingerprint=hashlib.sha256(value.encode()).hexdigest())
    # What ARM answers a GET of the secret: its tags and URIs, never the value.
    held = {"tags": dict(secret.body["tags"]), "properties": {"secretUri": "https://kv/secrets/x"}}

    assert secret.body["properties"]["value"] == value  # sent
    assert differences(secret.compared_body(), held) == []  # same fingerprint: nothing to write
    rotated = held | {"tags": held["tags"] | {"content-sha256": "0" * 64}}
    assert differences(secret.compared_body(), rotated) == ["tags.content-sha256"]


def _objects(platform: DeliveryPlatform, name: str, endpoints: dict[str, str]) -> dict[str, Any]:
    svc = _bundled(platform, name)
    facts = ServiceFacts(
        identity_client_id="client-id",
        azure_endpoints=endpoints,
        identity_name=naming.identity_name("prod", svc.namespace, svc.name),
    )
    return {o["kind"]: o for o in render_drone_service(svc, platform=platform, peers=[], facts=facts)}


def test_package_reads_its_connection_string_from_a_key_vault_file_and_rolls_when_it_changes(
    platform: DeliveryPlatform,
) -> None:
    before = _objects(platform, "package", {})
    after = _objects(platform, "package", {"KeyVaultSecret": "https://kv-fabrikam.vault.azure.net/secrets/s/v2"})

    env = after["ConfigMap"]["data"]
    assert env["FABRIKAM_MONGO_URL_FILE"] == "/mnt/secrets/mongo-url"
    assert env["FABRIKAM_MONGO_DATABASE"] == "packages"
    assert not any("MONGO_URL=" in f"{k}={v}" for k, v in env.items())  # no key in an environment variable
    objects = yaml.safe_load(after["SecretProviderClass"]["spec"]["parameters"]["objects"].removeprefix("array:\n"))
    assert {"objectName": "prod-cosmos-mongo", "objectAlias": "mongo-url", "objectType": "secret"} in [
        yaml.safe_load(entry) for entry in objects
    ]
    # A new version of the secret (a rotated key) changes the pods' config hash: they roll and read the new file.
    before_hash = before["Deployment"]["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
    after_hash = after["Deployment"]["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
    assert before_hash != after_hash


def test_account_signs_in_to_postgres_as_its_identity_once_the_server_has_a_host(platform: DeliveryPlatform) -> None:
    waiting = _objects(platform, "account", {})["ConfigMap"]["data"]
    ready = _objects(platform, "account", {"PostgresFlexibleServer": "psql-prod.postgres.database.azure.com"})

    assert "FABRIKAM_DATABASE_URL" not in waiting
    env = ready["ConfigMap"]["data"]
    user = naming.identity_name("prod", "shipping", "account")
    assert env["FABRIKAM_DATABASE_URL"] == (
        f"postgresql+asyncpg://{user}@psql-prod.postgres.database.azure.com:5432/accounts?ssl=verify-full"
    )
    assert env["FABRIKAM_DATABASE_AUTH"] == "entra"
    assert env["PGSSLROOTCERT"] == "/etc/ssl/certs/ca-certificates.crt"  # the token goes to Azure's server only


@pytest.mark.parametrize(
    ("state", "read_as"),
    [("Ready", "Succeeded"), ("Stopped", "Succeeded"), ("Provisioning", "Provisioning"), ("Updating", "Updating")],
)
def test_a_flexible_servers_state_stands_for_the_provisioning_state_it_lacks(state: str, read_as: str) -> None:
    """Never PATCH over a server still provisioning or updating: its GET has no provisioningState, only `state`."""
    server = {"type": "Microsoft.DBforPostgreSQL/flexibleServers", "properties": {"state": state}}

    assert provisioning_state(server) == read_as
    assert provisioning_state({"type": "Microsoft.Cache/redis", "properties": {"state": state}}) is None

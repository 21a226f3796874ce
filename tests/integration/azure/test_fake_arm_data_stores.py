"""The fake ARM's data stores (Cosmos DB for MongoDB, PostgreSQL flexible servers, Key Vault secrets) driven through
the real azure-mgmt `.aio` SDKs: the operator will provision them through these clients, so the fake must accept
exactly the calls, status codes and LRO styles the SDKs expect, answer the shapes they deserialize, and refuse what
Azure refuses."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cosmosdb import models as cosmos
from azure.mgmt.cosmosdb.aio import CosmosDBManagementClient
from azure.mgmt.keyvault import models as kv
from azure.mgmt.keyvault.aio import KeyVaultManagementClient
from azure.mgmt.postgresqlflexibleservers import models as pg
from azure.mgmt.postgresqlflexibleservers.aio import PostgreSQLManagementClient

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e0"  # conftest's
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
RG = "rg-data"
ACCOUNT = "fabrikam-cosmos-test"
SERVER = "fabrikam-pg-test"
VAULT = "fabrikam-kv-test"
OPERATOR_OBJECT_ID = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
PROVIDERS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers"
ACCOUNT_ID = f"{PROVIDERS}/Microsoft.DocumentDB/databaseAccounts/{ACCOUNT}"
SERVER_ID = f"{PROVIDERS}/Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}"


@pytest.fixture
def cosmos_client(arm_client: Any) -> CosmosDBManagementClient:
    return arm_client(CosmosDBManagementClient)


@pytest.fixture
def pg_client(arm_client: Any) -> PostgreSQLManagementClient:
    return arm_client(PostgreSQLManagementClient)


@pytest.fixture
def kv_client(arm_client: Any) -> KeyVaultManagementClient:
    return arm_client(KeyVaultManagementClient)


def _region(name: str, priority: int) -> cosmos.Location:
    return cosmos.Location(location_name=name, failover_priority=priority, is_zone_redundant=False)


async def _mongo_account(client: CosmosDBManagementClient, name: str = ACCOUNT, kind: str = "MongoDB") -> Any:
    parameters = cosmos.DatabaseAccountCreateUpdateParameters(
        location="westus2",
        kind=kind,
        locations=[_region("westus2", 0)],
        api_properties=cosmos.ApiProperties(server_version="4.2") if kind == "MongoDB" else None,
        capabilities=[cosmos.Capability(name="EnableMongo")] if kind == "MongoDB" else None,
        tags={"platform": "prod"},
    )
    poller = await client.database_accounts.begin_create_or_update(RG, name, parameters)
    return await poller.result()


def _mongo_database(name: str, max_throughput: int | None = 4000) -> cosmos.MongoDBDatabaseCreateUpdateParameters:
    autoscale = cosmos.AutoscaleSettings(max_throughput=max_throughput) if max_throughput is not None else None
    return cosmos.MongoDBDatabaseCreateUpdateParameters(
        resource=cosmos.MongoDBDatabaseResource(id=name),
        options=cosmos.CreateUpdateOptions(autoscale_settings=autoscale),
    )


def _server(**properties: Any) -> pg.Server:
    tier = properties.pop("tier", "GeneralPurpose")
    values: dict[str, Any] = {
        "administrator_login": "fabrikam",
        "administrator_login_password": "Pa55w0rd!fabrikam",
        "version": "16",
        "storage": pg.Storage(storage_size_gb=32),
        "backup": pg.Backup(backup_retention_days=14, geo_redundant_backup="Disabled"),
        "high_availability": pg.HighAvailability(mode="ZoneRedundant"),
        "auth_config": pg.AuthConfig(active_directory_auth="Enabled", password_auth="Enabled", tenant_id=TENANT),
    } | properties
    sku = pg.Sku(name="Standard_B1ms" if tier == "Burstable" else "Standard_D2ds_v5", tier=tier)
    return pg.Server(location="westus2", sku=sku, properties=pg.ServerProperties(**values))


def _refusal(error: HttpResponseError) -> tuple[int | None, str | None, str]:
    """Status, ARM error code and message of a refusal, as the operator's error handling reads them."""
    assert error.error is not None
    return error.status_code, error.error.code, error.error.message or ""


# ---- Cosmos DB


async def test_cosmos_account_is_created_updated_and_deleted_through_lros(
    fake_arm: Any, cosmos_client: CosmosDBManagementClient
) -> None:
    account = await _mongo_account(cosmos_client)

    assert account.provisioning_state == "Succeeded"
    assert account.kind == "MongoDB"
    assert account.document_endpoint == f"https://{ACCOUNT}.documents.azure.com:443/"
    assert [(r.location_name, r.failover_priority) for r in account.write_locations] == [("West US 2", 0)]
    assert [r.document_endpoint for r in account.read_locations] == [
        f"https://{ACCOUNT}-westus2.documents.azure.com:443/"
    ]
    [put] = fake_arm.calls("PUT", ACCOUNT_ID)
    assert put.api_version == "2025-10-15"
    assert put.body["properties"]["databaseAccountOfferType"] == "Standard"  # the SDK's constant
    assert fake_arm.calls("GET", "/fake/operations/"), "the SDK polls Azure-AsyncOperation"

    update = cosmos.DatabaseAccountUpdateParameters(
        tags={"platform": "prod", "team": "shipping"}, locations=[_region("westus2", 0), _region("eastus", 1)]
    )
    updated = await (await cosmos_client.database_accounts.begin_update(RG, ACCOUNT, update)).result()

    [patch] = fake_arm.calls("PATCH", ACCOUNT_ID)
    assert set(patch.body) == {"tags", "properties"}
    assert updated.tags == {"platform": "prod", "team": "shipping"}
    assert [r.location_name for r in updated.read_locations] == ["West US 2", "East US"]
    assert [r.location_name for r in updated.write_locations] == ["West US 2"]
    assert updated.api_properties.server_version == "4.2"  # merged, not replaced
    assert updated.consistency_policy.default_consistency_level == "Session"

    await (await cosmos_client.database_accounts.begin_delete(RG, ACCOUNT)).result()

    with pytest.raises(ResourceNotFoundError):
        await cosmos_client.database_accounts.get(RG, ACCOUNT)
    assert fake_arm.get(ACCOUNT_ID) is None


async def test_connection_strings_carry_the_account_keys_and_follow_a_regenerated_key(
    fake_arm: Any, cosmos_client: CosmosDBManagementClient
) -> None:
    await _mongo_account(cosmos_client)
    keys = fake_arm.cosmos_keys(ACCOUNT)

    listed = await cosmos_client.database_accounts.list_connection_strings(RG, ACCOUNT)

    by_kind = {c.key_kind: c for c in listed.connection_strings}
    assert set(by_kind) == {"Primary", "Secondary", "PrimaryReadonly", "SecondaryReadonly"}
    primary = by_kind["Primary"]
    assert primary.type == "MongoDB"
    assert primary.description == "Primary MongoDB Connection String"
    # The key is percent-encoded in the URI (base64 holds "/", "+" and "="), as the portal shows it.
    assert primary.connection_string == (
        f"mongodb://{ACCOUNT}:{quote(keys['primary'], safe='')}@{ACCOUNT}.mongo.cosmos.azure.com:10255/?ssl=true"
        f"&replicaSet=globaldb&retrywrites=false&maxIdleTimeMS=120000&appName=@{ACCOUNT}@"
    )
    assert re.fullmatch(r"[A-Za-z0-9+/]{86}==", keys["primary"])
    assert len(set(keys.values())) == 4
    listed_keys = await cosmos_client.database_accounts.list_keys(RG, ACCOUNT)
    assert (listed_keys.primary_master_key, listed_keys.secondary_master_key) == (keys["primary"], keys["secondary"])

    regenerate = cosmos.DatabaseAccountRegenerateKeyParameters(key_kind="primary")
    await (await cosmos_client.database_accounts.begin_regenerate_key(RG, ACCOUNT, regenerate)).result()

    [post] = fake_arm.calls("POST", "/regenerateKey")
    assert post.body == {"keyKind": "primary"}
    after = fake_arm.cosmos_keys(ACCOUNT)
    assert after["primary"] != keys["primary"]
    assert after["secondary"] == keys["secondary"]
    relisted = await cosmos_client.database_accounts.list_connection_strings(RG, ACCOUNT)
    [new_primary] = [c for c in relisted.connection_strings if c.key_kind == "Primary"]
    assert f":{quote(after['primary'], safe='')}@" in new_primary.connection_string
    # A GET never shows a key.
    assert keys["secondary"] not in str(fake_arm.get(ACCOUNT_ID))


async def test_mongo_database_and_collection_round_trip_and_go_with_their_account(
    fake_arm: Any, cosmos_client: CosmosDBManagementClient
) -> None:
    await _mongo_account(cosmos_client)
    mongo = cosmos_client.mongo_db_resources

    await (
        await mongo.begin_create_update_mongo_db_database(RG, ACCOUNT, "deliveries", _mongo_database("deliveries"))
    ).result()
    collection = cosmos.MongoDBCollectionCreateUpdateParameters(
        resource=cosmos.MongoDBCollectionResource(
            id="packages",
            shard_key={"deliveryId": "Hash"},
            indexes=[
                cosmos.MongoIndex(key=cosmos.MongoIndexKeys(keys=["_id"])),
                cosmos.MongoIndex(
                    key=cosmos.MongoIndexKeys(keys=["createdAt"]),
                    options=cosmos.MongoIndexOptions(expire_after_seconds=86400),
                ),
            ],
        ),
        options=cosmos.CreateUpdateOptions(),
    )
    await (
        await mongo.begin_create_update_mongo_db_collection(RG, ACCOUNT, "deliveries", "packages", collection)
    ).result()

    database = await mongo.get_mongo_db_database(RG, ACCOUNT, "deliveries")
    assert database.type == "Microsoft.DocumentDB/databaseAccounts/mongodbDatabases"
    assert database.resource.id == "deliveries"
    assert database.resource.rid
    assert database.resource.ts
    assert database.resource.etag
    assert database.options.autoscale_settings.max_throughput == 4000
    [put] = [r for r in fake_arm.calls("PUT") if r.path.endswith("/mongodbDatabases/deliveries")]
    assert put.body["properties"] == {
        "resource": {"id": "deliveries", "createMode": "Default"},  # the SDK model's default
        "options": {"autoscaleSettings": {"maxThroughput": 4000}},
    }
    stored = fake_arm.get(f"{ACCOUNT_ID}/mongodbDatabases/deliveries")
    assert "provisioningState" not in stored["properties"]  # MongoDBDatabaseGetResults has none
    got = await mongo.get_mongo_db_collection(RG, ACCOUNT, "deliveries", "packages")
    assert got.resource.shard_key == {"deliveryId": "Hash"}
    assert [i.key.keys for i in got.resource.indexes] == [["_id"], ["createdAt"]]
    assert got.resource.indexes[1].options.expire_after_seconds == 86400
    listed = [c.name async for c in mongo.list_mongo_db_collections(RG, ACCOUNT, "deliveries")]
    assert listed == ["packages"]

    # A second PUT keeps the resource's _rid and moves its _etag.
    await (
        await mongo.begin_create_update_mongo_db_database(RG, ACCOUNT, "deliveries", _mongo_database("deliveries"))
    ).result()
    again = await mongo.get_mongo_db_database(RG, ACCOUNT, "deliveries")
    assert again.resource.rid == database.resource.rid
    assert again.resource.etag != database.resource.etag

    await (await mongo.begin_delete_mongo_db_database(RG, ACCOUNT, "deliveries")).result()
    with pytest.raises(ResourceNotFoundError):
        await mongo.get_mongo_db_collection(RG, ACCOUNT, "deliveries", "packages")
    await (await cosmos_client.database_accounts.begin_delete(RG, ACCOUNT)).result()
    assert fake_arm.paths("Microsoft.DocumentDB/databaseAccounts/mongodbDatabases") == []


async def test_mongo_children_are_validated_as_cosmos_db_does(
    fake_arm: Any, cosmos_client: CosmosDBManagementClient
) -> None:
    mongo = cosmos_client.mongo_db_resources
    with pytest.raises(HttpResponseError) as orphan:
        await mongo.begin_create_update_mongo_db_database(RG, ACCOUNT, "deliveries", _mongo_database("deliveries"))
    assert _refusal(orphan.value)[:2] == (404, "ParentResourceNotFound")

    await _mongo_account(cosmos_client)
    for throughput in (1500, 500, 2_000_000):
        with pytest.raises(HttpResponseError) as refused:
            await mongo.begin_create_update_mongo_db_database(
                RG, ACCOUNT, "deliveries", _mongo_database("deliveries", throughput)
            )
        status, code, message = _refusal(refused.value)
        assert (status, code) == (400, "BadRequest")
        assert "maxThroughput" in message
        assert str(throughput) in message

    with pytest.raises(HttpResponseError) as mismatch:
        await mongo.begin_create_update_mongo_db_database(RG, ACCOUNT, "deliveries", _mongo_database("orders"))
    status, code, message = _refusal(mismatch.value)
    assert (status, code) == (400, "BadRequest")
    assert "resource.id 'orders'" in message
    assert fake_arm.paths("Microsoft.DocumentDB/databaseAccounts/mongodbDatabases") == []

    await _mongo_account(cosmos_client, "fabrikam-sql-test", kind="GlobalDocumentDB")
    with pytest.raises(HttpResponseError) as wrong_api:
        await mongo.begin_create_update_mongo_db_database(
            RG, "fabrikam-sql-test", "deliveries", _mongo_database("deliveries")
        )
    assert _refusal(wrong_api.value)[:2] == (400, "BadRequest")


async def test_a_cosmos_account_takes_one_control_plane_operation_at_a_time(
    fake_arm: Any, cosmos_client: CosmosDBManagementClient
) -> None:
    await _mongo_account(cosmos_client)
    fake_arm.lro_seconds = 0.6
    mongo = cosmos_client.mongo_db_resources

    first = await mongo.begin_create_update_mongo_db_database(RG, ACCOUNT, "deliveries", _mongo_database("deliveries"))
    with pytest.raises(HttpResponseError) as locked:
        await mongo.begin_create_update_mongo_db_database(RG, ACCOUNT, "orders", _mongo_database("orders"))
    await first.result()
    await (await mongo.begin_create_update_mongo_db_database(RG, ACCOUNT, "orders", _mongo_database("orders"))).result()

    status, code, message = _refusal(locked.value)
    assert (status, code) == (412, "PreconditionFailed")
    assert f"exclusive lock on [{ACCOUNT}]" in message
    assert len(fake_arm.paths("Microsoft.DocumentDB/databaseAccounts/mongodbDatabases")) == 2


# ---- PostgreSQL flexible servers


async def test_flexible_server_lifecycle_reports_state_not_provisioning_state(
    fake_arm: Any, pg_client: PostgreSQLManagementClient
) -> None:
    fake_arm.lro_seconds = 0.4
    poller = await pg_client.servers.begin_create_or_update(RG, SERVER, _server())

    while_creating = fake_arm.get(SERVER_ID)
    server = await poller.result()

    assert while_creating["properties"]["state"] == "Provisioning"
    assert server.state == "Ready"
    assert server.fully_qualified_domain_name == f"{SERVER}.postgres.database.azure.com"
    assert server.high_availability.mode == "ZoneRedundant"
    assert server.high_availability.state == "Healthy"
    assert server.administrator_login == "fabrikam"
    stored = fake_arm.get(SERVER_ID)
    assert "provisioningState" not in stored["properties"]  # the REST model (ServerProperties) has none
    assert "administratorLoginPassword" not in stored["properties"]  # write-only
    assert fake_arm.server_password(SERVER) == "Pa55w0rd!fabrikam"
    [put] = fake_arm.calls("PUT", SERVER_ID)
    assert put.api_version == "2026-10-01"
    assert fake_arm.calls("GET", "/fake/operations/")

    patch = pg.ServerForPatch(
        tags={"team": "shipping"},
        properties=pg.ServerPropertiesForPatch(backup=pg.BackupForPatch(backup_retention_days=21)),
    )
    updated = await (await pg_client.servers.begin_update(RG, SERVER, patch)).result()

    [sent] = fake_arm.calls("PATCH", SERVER_ID)
    assert sent.body == {"tags": {"team": "shipping"}, "properties": {"backup": {"backupRetentionDays": 21}}}
    assert updated.backup.backup_retention_days == 21
    assert updated.backup.geo_redundant_backup == "Disabled"  # merged member by member
    assert updated.high_availability.mode == "ZoneRedundant"
    assert updated.tags == {"team": "shipping"}
    assert updated.state == "Ready"

    await (await pg_client.servers.begin_delete(RG, SERVER)).result()
    with pytest.raises(ResourceNotFoundError):
        await pg_client.servers.get(RG, SERVER)


async def test_flexible_server_databases_and_entra_administrators(
    fake_arm: Any, pg_client: PostgreSQLManagementClient
) -> None:
    await (await pg_client.servers.begin_create_or_update(RG, SERVER, _server())).result()

    database = pg.Database(properties=pg.DatabaseProperties(charset="UTF8", collation="en_US.utf8"))
    await (await pg_client.databases.begin_create(RG, SERVER, "deliveries", database)).result()
    administrator = pg.AdministratorMicrosoftEntraAdd(
        properties=pg.AdministratorMicrosoftEntraPropertiesForAdd(
            principal_type="ServicePrincipal", principal_name="fabrikam-operator", tenant_id=TENANT
        )
    )
    entra = pg_client.administrators_microsoft_entra
    await (await entra.begin_create_or_update(RG, SERVER, OPERATOR_OBJECT_ID, administrator)).result()

    got = await pg_client.databases.get(RG, SERVER, "deliveries")
    assert (got.name, got.charset, got.collation) == ("deliveries", "UTF8", "en_US.utf8")
    admin = await entra.get(RG, SERVER, OPERATOR_OBJECT_ID)
    assert (admin.principal_type, admin.principal_name, admin.object_id, admin.tenant_id) == (
        "ServicePrincipal",
        "fabrikam-operator",
        OPERATOR_OBJECT_ID,
        TENANT,
    )
    [put] = fake_arm.calls("PUT", f"{SERVER_ID}/administrators/")
    assert put.path.endswith(f"/administrators/{OPERATOR_OBJECT_ID}")
    assert "provisioningState" not in fake_arm.get(f"{SERVER_ID}/databases/deliveries")["properties"]

    await (await pg_client.databases.begin_delete(RG, SERVER, "deliveries")).result()
    with pytest.raises(ResourceNotFoundError):
        await pg_client.databases.get(RG, SERVER, "deliveries")
    await (await pg_client.servers.begin_delete(RG, SERVER)).result()
    with pytest.raises(ResourceNotFoundError):
        await entra.get(RG, SERVER, OPERATOR_OBJECT_ID)


@pytest.mark.parametrize(
    ("server", "code", "named"),
    [
        (
            _server(tier="Burstable", high_availability=pg.HighAvailability(mode="ZoneRedundant")),
            "HANotSupportedForBurstableSkuTier",
            "highAvailability.mode",
        ),
        (
            _server(tier="Burstable", high_availability=pg.HighAvailability(mode="SameZone")),
            "HANotSupportedForBurstableSkuTier",
            "Burstable",
        ),
        (_server(backup=pg.Backup(backup_retention_days=40)), "InvalidParameterValue", "backupRetentionDays"),
        (_server(backup=pg.Backup(backup_retention_days=3)), "InvalidParameterValue", "backupRetentionDays"),
        (_server(administrator_login_password=None), "InvalidParameterValue", "administratorLoginPassword"),
    ],
)
async def test_flexible_server_refusals(
    fake_arm: Any, pg_client: PostgreSQLManagementClient, server: pg.Server, code: str, named: str
) -> None:
    with pytest.raises(HttpResponseError) as refused:
        await pg_client.servers.begin_create_or_update(RG, SERVER, server)

    status, got_code, message = _refusal(refused.value)
    assert (status, got_code) == (400, code)
    assert named in message
    assert fake_arm.get(SERVER_ID) is None


async def test_burstable_server_without_ha_and_password_auth_disabled_needs_no_password(
    fake_arm: Any, pg_client: PostgreSQLManagementClient
) -> None:
    server = _server(
        tier="Burstable",
        high_availability=pg.HighAvailability(mode="Disabled"),
        administrator_login=None,
        administrator_login_password=None,
        auth_config=pg.AuthConfig(active_directory_auth="Enabled", password_auth="Disabled", tenant_id=TENANT),
    )

    created = await (await pg_client.servers.begin_create_or_update(RG, SERVER, server)).result()

    assert created.high_availability.state == "NotEnabled"
    assert fake_arm.server_password(SERVER) is None


async def test_entra_administrator_refused_while_entra_auth_is_disabled_and_geo_backup_fixed_at_creation(
    fake_arm: Any, pg_client: PostgreSQLManagementClient
) -> None:
    auth = pg.AuthConfig(active_directory_auth="Disabled", password_auth="Enabled")
    await (await pg_client.servers.begin_create_or_update(RG, SERVER, _server(auth_config=auth))).result()
    administrator = pg.AdministratorMicrosoftEntraAdd(
        properties=pg.AdministratorMicrosoftEntraPropertiesForAdd(
            principal_type="ServicePrincipal", principal_name="fabrikam-operator", tenant_id=TENANT
        )
    )

    with pytest.raises(HttpResponseError) as refused:
        await pg_client.administrators_microsoft_entra.begin_create_or_update(
            RG, SERVER, OPERATOR_OBJECT_ID, administrator
        )
    # BackupForPatch has geoRedundantBackup read-only (the SDK leaves it out of a PATCH): only a PUT can try.
    geo_backup = pg.Backup(backup_retention_days=14, geo_redundant_backup="Enabled")
    geo_redundant = _server(auth_config=auth, backup=geo_backup)
    with pytest.raises(HttpResponseError) as geo:
        await pg_client.servers.begin_create_or_update(RG, SERVER, geo_redundant)
    database = pg.Database(properties=pg.DatabaseProperties(charset="UTF8", collation="en_US.utf8"))
    with pytest.raises(HttpResponseError) as orphan:
        await pg_client.databases.begin_create(RG, "no-such-server", "deliveries", database)

    status, code, message = _refusal(refused.value)
    assert (status, code) == (400, "BadRequest")
    assert "activeDirectoryAuth" in message
    status, code, message = _refusal(geo.value)
    assert (status, code) == (400, "InvalidParameterValue")
    assert "geoRedundantBackup" in message
    assert _refusal(orphan.value)[:2] == (404, "ParentResourceNotFound")


# ---- Key Vault secrets


async def test_secrets_are_stored_versioned_and_never_answered(
    fake_arm: Any, kv_client: KeyVaultManagementClient
) -> None:
    vault_id = fake_arm.add_vault(SUBSCRIPTION, RG, VAULT)
    parameters = kv.SecretCreateOrUpdateParameters(properties=kv.SecretProperties(value="mongodb://first"))

    created = await kv_client.secrets.create_or_update(RG, VAULT, "cosmos-mongo", parameters)
    got = await kv_client.secrets.get(RG, VAULT, "cosmos-mongo")
    rewritten = await kv_client.secrets.create_or_update(
        RG, VAULT, "cosmos-mongo", kv.SecretCreateOrUpdateParameters(properties=kv.SecretProperties(value="second"))
    )

    [first_put, _] = fake_arm.calls("PUT", "/secrets/cosmos-mongo")
    assert first_put.api_version == "2026-05-15"
    assert first_put.body["properties"]["value"] == "mongodb://first"
    assert created.properties.value is None
    assert got.properties.value is None
    assert got.properties.secret_uri == f"https://{VAULT}.vault.azure.net/secrets/cosmos-mongo"
    assert got.properties.secret_uri_with_version.startswith(got.properties.secret_uri + "/")
    assert got.properties.attributes.enabled is True
    assert got.properties.attributes.created is not None
    assert got.location == "West US 2"
    assert rewritten.properties.secret_uri_with_version != got.properties.secret_uri_with_version
    assert "value" not in fake_arm.get(f"{vault_id}/secrets/cosmos-mongo")["properties"]
    assert "second" not in str(fake_arm.get(f"{vault_id}/secrets/cosmos-mongo"))
    assert fake_arm.secret_value(VAULT, "cosmos-mongo") == "second"
    assert fake_arm.secret_value(vault_id, "cosmos-mongo") == "second"
    listed = [secret async for secret in kv_client.secrets.list(RG, VAULT)]
    assert [(s.name, s.properties.value) for s in listed] == [("cosmos-mongo", None)]


async def test_secret_in_a_missing_vault_is_not_found_and_a_vault_can_be_put(
    fake_arm: Any, kv_client: KeyVaultManagementClient
) -> None:
    parameters = kv.SecretCreateOrUpdateParameters(properties=kv.SecretProperties(value="x"))

    with pytest.raises(HttpResponseError) as missing:
        await kv_client.secrets.create_or_update(RG, VAULT, "cosmos-mongo", parameters)
    with pytest.raises(ResourceNotFoundError):
        await kv_client.secrets.get(RG, VAULT, "cosmos-mongo")
    vault = kv.VaultCreateOrUpdateParameters(
        location="westus2",
        properties=kv.VaultProperties(tenant_id=TENANT, sku=kv.Sku(family="A", name="standard")),
    )
    created = await (await kv_client.vaults.begin_create_or_update(RG, VAULT, vault)).result()
    await kv_client.secrets.create_or_update(RG, VAULT, "cosmos-mongo", parameters)

    assert missing.value.status_code == 404
    assert created.properties.vault_uri == f"https://{VAULT}.vault.azure.net/"
    assert created.properties.provisioning_state == "Succeeded"
    assert fake_arm.secret_value(VAULT, "cosmos-mongo") == "x"
    await kv_client.vaults.delete(RG, VAULT)
    assert fake_arm.secret_value(VAULT, "cosmos-mongo") is None


# ---- fault injection and throttling reach the new types


async def test_faults_and_throttling_apply_to_the_data_stores(
    fake_arm: Any, cosmos_client: CosmosDBManagementClient, pg_client: PostgreSQLManagementClient
) -> None:
    fake_arm.inject("PUT", f"/databaseAccounts/{ACCOUNT}", 503, code="ServiceUnavailable")
    fake_arm.fail_operations(f"/flexibleServers/{SERVER}", "InternalServerError", "The server could not be created.")

    await _mongo_account(cosmos_client)  # the SDK retries the 503
    with pytest.raises(HttpResponseError) as failed:
        await (await pg_client.servers.begin_create_or_update(RG, SERVER, _server())).result()

    assert len(fake_arm.calls("PUT", ACCOUNT_ID)) == 2
    assert _refusal(failed.value)[1:] == ("InternalServerError", "The server could not be created.")
    # With no provisioningState to show Failed in, a failed creation leaves nothing (see fake_arm._settled).
    with pytest.raises(ResourceNotFoundError):
        await pg_client.servers.get(RG, SERVER)

    throttle = fake_arm.throttle(burst=1, per_second=2)
    await asyncio.gather(
        cosmos_client.database_accounts.list_keys(RG, ACCOUNT),
        cosmos_client.database_accounts.list_connection_strings(RG, ACCOUNT),
    )
    assert throttle.rejected == 1  # POSTs are writes to ARM's throttling; the SDK waited Retry-After and retried

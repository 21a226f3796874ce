"""How the bundled services reach the platform's Azure databases: Cosmos DB for MongoDB and PostgreSQL.

Pure: the spec and the endpoints the operator observed (the platform's `status.azureResources`) in, environment and
Key Vault objects out. Only the bundled services are served: the Cosmos DB connection string opens every database
of the account, and an identity signed in to the PostgreSQL server administers all of it, so neither is a team's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from fabrikam.operator.api import Component, DeliveryPlatform, DependencyKind, DroneService

# Kinds of `status.azureResources` entries whose endpoint the services need.
COSMOS_SECRET_KIND = "KeyVaultSecret"
POSTGRES_KIND = "PostgresFlexibleServer"
# The Cosmos DB connection string's file among the Key Vault objects (workload.SECRETS_DIR).
MONGO_URL_FILE = "mongo-url"
POSTGRES_PORT = 5432
# The image's CA bundle (Debian's ca-certificates; devcluster/images.py installs it).
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def mongo_secret_name(platform: str) -> str:
    """The Key Vault secret with the Cosmos DB connection string: 1-127 letters, digits and hyphens (a platform name
    may hold dots; a long one keeps a hash of itself)."""
    name = re.sub(r"[^a-z0-9-]", "-", platform.lower()).strip("-") + "-cosmos-mongo"
    if len(name) <= 127:
        return name
    digest = hashlib.sha256(platform.encode()).hexdigest()[:8]
    return f"{name[:100].rstrip('-')}-{digest}-cosmos-mongo"


def _bundled_use(svc: DroneService, kind: DependencyKind) -> str | None:
    """The name of the service's first `kind` dependency, if it is a bundled service that has one."""
    if svc.spec.component is Component.CUSTOM:
        return None
    return next((use.name for use in svc.spec.uses if use.kind is kind), None)


def serves_mongo(svc: DroneService, platform: DeliveryPlatform) -> bool:
    """The platform's Cosmos DB serves this service's `mongo` dependency."""
    return (
        platform.spec.azure is not None
        and platform.spec.databases.cosmos_db is not None
        and _bundled_use(svc, DependencyKind.MONGO) is not None
    )


def serves_sql(svc: DroneService, platform: DeliveryPlatform) -> bool:
    """The platform's PostgreSQL server serves this service's `sql` dependency."""
    return (
        platform.spec.azure is not None
        and platform.spec.databases.postgres is not None
        and _bundled_use(svc, DependencyKind.SQL) is not None
    )


def key_vault_objects(svc: DroneService, platform: DeliveryPlatform) -> dict[str, str]:
    """Key Vault secrets the service mounts besides its declared ones, file name -> secret name: the Cosmos DB
    connection string."""
    return {MONGO_URL_FILE: mongo_secret_name(platform.name)} if serves_mongo(svc, platform) else {}


def environment(
    svc: DroneService,
    platform: DeliveryPlatform,
    endpoints: Mapping[str, str],
    *,
    secrets_dir: str,
    database_user: str | None,
) -> dict[str, str]:
    """The settings of the databases the platform serves the service: the Cosmos DB connection string as a file
    (with its Key Vault version, so a rotated key rolls the pods), and the PostgreSQL URL signed in with Microsoft
    Entra tokens as `database_user` (the service's managed identity), once the server has a host name."""
    env: dict[str, str] = {}
    if serves_mongo(svc, platform):
        env["FABRIKAM_MONGO_URL_FILE"] = f"{secrets_dir}/{MONGO_URL_FILE}"
        env["FABRIKAM_MONGO_DATABASE"] = str(_bundled_use(svc, DependencyKind.MONGO))
        if version := endpoints.get(COSMOS_SECRET_KIND):
            env["FABRIKAM_MONGO_URL_VERSION"] = version
    host = endpoints.get(POSTGRES_KIND)
    if serves_sql(svc, platform) and host and database_user:
        database = _bundled_use(svc, DependencyKind.SQL)
        # verify-full: the token (the password) goes only to the server whose certificate names the host and chains
        # to a root of the image's CA bundle (asyncpg reads PGSSLROOTCERT; it does not load the system store).
        env["FABRIKAM_DATABASE_URL"] = (
            f"postgresql+asyncpg://{database_user}@{host}:{POSTGRES_PORT}/{database}?ssl=verify-full"
        )
        env["FABRIKAM_DATABASE_AUTH"] = "entra"
        env["PGSSLROOTCERT"] = CA_BUNDLE
    return env

"""Wires the account service: database, PII cipher, local issuer (local runs) and token checks."""

from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import DefaultAzureCredential
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabrikam.workloads.account import api
from fabrikam.workloads.account.db import Business, Client, create_schema, engine_for
from fabrikam.workloads.account.db_auth import uses_entra
from fabrikam.workloads.account.issuer import LocalIssuer, hash_secret, load_signing_key
from fabrikam.workloads.kit.auth import Auth, Role, TokenVerifier
from fabrikam.workloads.kit.pii import FieldCipher
from fabrikam.workloads.kit.requirements import Need
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.kit.settings import ServiceSettings, require

DEMO_BUSINESS = "fabrikam-demo"
# The seeded demo clients of the local issuer: the business's administrator and its fleet's drones.
DEMO_CLIENTS = {"demo-business": Role.business_admin, "demo-fleet": Role.drone_operator}
NEEDS = (Need.DATABASE, Need.PII_KEY, Need.ISSUER)


def issuer_url(settings: ServiceSettings) -> str:
    return settings.auth_issuer or f"http://{settings.host}:{settings.port}"


def build(runtime: Runtime, credential: AsyncTokenCredential | None = None) -> ServiceParts:
    """The service's parts. With Entra ID sign-in to the database (`settings.database_auth`), connections sign in
    with tokens of `credential`, by default the pod's workload identity (or whatever DefaultAzureCredential
    finds), which the service then closes when it stops; a given credential stays its owner's to close."""
    settings = runtime.settings
    database_url = require(settings.database_url, "database_url")
    owned_credential = None
    if not uses_entra(database_url, settings.database_auth):
        credential = None
    elif credential is None:
        credential = owned_credential = DefaultAzureCredential()
    engine = engine_for(database_url, credential, timeout_seconds=settings.outbound_timeout_seconds)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    pii_key = require(settings.pii_key(), "pii_key_file")
    cipher = FieldCipher.from_key_file(pii_key.path, create=pii_key.create)
    issuer = None
    if settings.account_local_issuer:
        signing_key = load_signing_key(require(settings.issuer_key(), "account_key_dir"))
        issuer = LocalIssuer(issuer_url(settings), settings.auth_audience, signing_key, settings.token_lifetime_seconds)
        verifier = TokenVerifier(
            issuer.issuer,
            settings.auth_audience,
            jwks=issuer.jwks(),
            business_claim=settings.auth_business_claim,
        )
    else:
        verifier = require(TokenVerifier.from_settings(settings), "auth_issuer")
    auth = Auth(verifier)

    async def start() -> None:
        async with engine.begin() as connection:
            await create_schema(connection)
            if issuer is not None:
                # In the schema's transaction, so a replica starting at the same time finds the demo seeded.
                await _seed_demo(async_sessionmaker(connection), settings.demo_client_secret)

    async def stop() -> None:
        await auth.close()
        await engine.dispose()
        if owned_credential is not None:
            await owned_credential.close()

    async def database_ready() -> object:
        async with engine.connect() as connection:
            return await connection.execute(text("SELECT 1"))

    return ServiceParts(
        title="Fabrikam account",
        routers=[api.router(sessions, api.Pii(cipher), auth, issuer, runtime.redis, settings)],
        readiness={"database": database_ready},
        on_start=[start],
        on_stop=[stop],
    )


async def _seed_demo(sessions: async_sessionmaker[AsyncSession], secret: str) -> None:
    """The demo business and its clients, once (local issuer only)."""
    async with sessions() as db:
        if await db.get(Business, DEMO_BUSINESS) is None:
            db.add(Business(id=DEMO_BUSINESS, name="Fabrikam Demo", contact_email="demo@fabrikam.example"))
        existing = set((await db.scalars(select(Client.client_id))).all())
        for client_id, role in DEMO_CLIENTS.items():
            if client_id not in existing:
                db.add(
                    Client(
                        client_id=client_id,
                        business_id=DEMO_BUSINESS,
                        secret_hash=hash_secret(secret),
                        roles=role.value,
                    )
                )
        await db.commit()

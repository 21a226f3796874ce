"""Wires the account service: database, PII cipher, local issuer (local runs) and token checks."""

from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabrikam.workloads.account import api
from fabrikam.workloads.account.db import Base, Business, Client, engine_for
from fabrikam.workloads.account.issuer import LocalIssuer, hash_secret
from fabrikam.workloads.kit.auth import Auth, Role, TokenVerifier
from fabrikam.workloads.kit.pii import FieldCipher
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.kit.settings import ServiceSettings

DEMO_BUSINESS = "fabrikam-demo"
# The seeded demo clients of the local issuer: the business's administrator and its fleet's drones.
DEMO_CLIENTS = {"demo-business": Role.business_admin, "demo-fleet": Role.drone_operator}


def issuer_url(settings: ServiceSettings) -> str:
    return settings.auth_issuer or f"http://{settings.host}:{settings.port}"


def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    engine = engine_for(settings.database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    cipher = FieldCipher.from_key_file(Path(settings.pii_key_file), create=settings.pii_key_create)
    issuer = None
    verifier: TokenVerifier | None
    if settings.account_local_issuer:
        key_path = Path(settings.account_key_dir) / "issuer-key.pem"
        issuer = LocalIssuer(issuer_url(settings), settings.auth_audience, key_path, settings.token_lifetime_seconds)
        verifier = TokenVerifier(
            issuer.issuer,
            settings.auth_audience,
            jwks=issuer.jwks(),
            business_claim=settings.auth_business_claim,
        )
    else:
        verifier = TokenVerifier.from_settings(settings)
        if verifier is None:
            raise ValueError("FABRIKAM_AUTH_ISSUER is required when the local issuer is off")
    auth = Auth(verifier)

    async def start() -> None:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        if issuer is not None:
            await _seed_demo(sessions, settings.demo_client_secret)

    async def stop() -> None:
        await auth.close()
        await engine.dispose()

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

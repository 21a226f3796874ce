"""The account service's own database (SQLite locally; PostgreSQL through asyncpg, or Azure SQL, by the URL).
In Azure, PostgreSQL signs in with Microsoft Entra ID tokens instead of a password (`db_auth`).

Addresses and phone numbers are stored only as AES-GCM ciphertexts (`kit.pii`). Times are stored with their
time zone (PostgreSQL `timestamptz`), and amounts as 64-bit integers, as SQLite stores them anyway.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from azure.core.credentials_async import AsyncTokenCredential
from sqlalchemy import BigInteger, DateTime, ForeignKey, String, UniqueConstraint, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fabrikam.workloads.account.db_auth import entra_connect_args


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True), int: BigInteger}


class Business(Base):
    __tablename__ = "businesses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    phone_sealed: Mapped[str | None] = mapped_column(String(512))
    address_sealed: Mapped[str | None] = mapped_column(String(1024))
    balance_cents: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("business_id", "email"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(32))
    phone_sealed: Mapped[str | None] = mapped_column(String(512))
    address_sealed: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Client(Base):
    """OAuth2 client credentials of the local issuer (local runs only; Entra ID owns them in Azure)."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    secret_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[str] = mapped_column(String(200))


class PaymentEvent(Base):
    """One row per processed webhook event: its primary key makes processing exactly once."""

    __tablename__ = "payment_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    type: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int]
    processed_at: Mapped[datetime] = mapped_column(default=_now)


def engine_for(
    url: str, credential: AsyncTokenCredential | None = None, *, timeout_seconds: float = 5.0
) -> AsyncEngine:
    """The engine of `url`; with `credential`, every new connection signs in with its Entra ID token. On
    PostgreSQL, connecting (sign-in included) and each statement give up after `timeout_seconds`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    connect_args = entra_connect_args(url, credential) if credential is not None else {}
    connect_args |= driver_timeouts(url, timeout_seconds)
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)


def driver_timeouts(url: str, seconds: float) -> dict[str, Any]:
    """asyncpg's own defaults wait 60 s for a connection and forever for a statement's answer (seed: external
    calls without timeouts); SQLite is a local file, with sqlite3's own 5 s wait for a lock."""
    if make_url(url).get_driver_name() == "asyncpg":
        return {"timeout": seconds, "command_timeout": seconds}
    return {}


async def create_schema(connection: AsyncConnection) -> None:
    """Create the missing tables. On PostgreSQL the transaction first takes an advisory lock, so replicas
    starting together wait for each other instead of racing to create (and seed) the same tables."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('fabrikam-account-schema'))"))
    await connection.run_sync(Base.metadata.create_all)

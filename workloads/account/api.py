"""Account routes: registration and profiles, the local issuer's OIDC endpoints, the payments webhook."""

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabrikam.workloads.account import payments
from fabrikam.workloads.account.db import Business, Client, PaymentEvent, User
from fabrikam.workloads.account.issuer import LocalIssuer, hash_secret, secret_matches
from fabrikam.workloads.account.models import (
    BusinessProfile,
    BusinessRegistration,
    BusinessUpdate,
    Credentials,
    Registered,
    UserProfile,
    UserRegistration,
    UserUpdate,
)
from fabrikam.workloads.account.token_request import (
    UNKNOWN_CLIENT,
    OAuthError,
    Refused,
    Token,
    TokenForm,
    client_credentials,
)
from fabrikam.workloads.kit.auth import Auth, Principal, Role
from fabrikam.workloads.kit.openapi import Invalid, declared
from fabrikam.workloads.kit.pii import FieldCipher
from fabrikam.workloads.kit.settings import ServiceSettings

# The token route reads its form itself (FastAPI's form parsing needs python-multipart); the schema still says
# what it takes.
TOKEN_FORM = {
    "required": True,
    "content": {"application/x-www-form-urlencoded": {"schema": TokenForm.model_json_schema()}},
}

# The webhook reads its body itself (the signature covers its exact bytes).
PAYMENT_NOTIFICATION = {
    "required": True,
    "content": {"application/json": {"schema": payments.PaymentNotification.model_json_schema(by_alias=True)}},
}


def _id() -> Any:
    """A fresh Path per parameter: FastAPI binds one Path object to one parameter."""
    return Path(pattern=r"^[A-Za-z0-9-]{1,64}$")


class Pii:
    """Seals and opens one column of one row: the context binds a ciphertext to where it belongs."""

    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    def seal(self, value: str | None, table: str, column: str, row: str) -> str | None:
        return None if value is None else self._cipher.encrypt(value, f"{table}.{column}:{row}")

    def open(self, value: str | None, table: str, column: str, row: str) -> str | None:
        return None if value is None else self._cipher.decrypt(value, f"{table}.{column}:{row}")

    def update(self, row: Business | User, body: BusinessUpdate | UserUpdate, table: str) -> None:
        """Applies a partial profile update; a new phone or address is sealed to its row and column."""
        if body.name is not None:
            row.name = body.name
        if body.phone is not None:
            row.phone_sealed = self.seal(body.phone, table, "phone", row.id)
        if body.address is not None:
            row.address_sealed = self.seal(body.address, table, "address", row.id)

    def business(self, row: Business) -> BusinessProfile:
        return BusinessProfile(
            id=row.id,
            name=row.name,
            contact_email=row.contact_email,
            phone=self.open(row.phone_sealed, "businesses", "phone", row.id),
            address=self.open(row.address_sealed, "businesses", "address", row.id),
            balance_cents=row.balance_cents,
        )

    def user(self, row: User) -> UserProfile:
        return UserProfile(
            id=row.id,
            business_id=row.business_id,
            name=row.name,
            email=row.email,
            role=Role(row.role),
            phone=self.open(row.phone_sealed, "users", "phone", row.id),
            address=self.open(row.address_sealed, "users", "address", row.id),
        )


def _own_business(principal: Principal | None, business_id: str, *, admin: bool = True) -> None:
    if principal is None:
        return
    if principal.business_id != business_id or (admin and Role.business_admin not in principal.roles):
        raise HTTPException(403, f"not an administrator of business {business_id}")


def router(
    sessions: async_sessionmaker[AsyncSession],
    pii: Pii,
    auth: Auth,
    issuer: LocalIssuer | None,
    redis: Redis,
    settings: ServiceSettings,
) -> APIRouter:
    api = APIRouter()

    async def session() -> AsyncIterator[AsyncSession]:
        async with sessions() as opened:
            yield opened

    @api.post("/v1/businesses", status_code=201, response_model=Registered, tags=["businesses"])
    async def register_business(body: BusinessRegistration, db: AsyncSession = Depends(session)) -> Registered:
        """A business signs up; in local runs it gets client credentials for the token endpoint."""
        business_id = str(uuid.uuid4())
        row = Business(
            id=business_id,
            name=body.name,
            contact_email=body.contact_email,
            phone_sealed=pii.seal(body.phone, "businesses", "phone", business_id),
            address_sealed=pii.seal(body.address, "businesses", "address", business_id),
            balance_cents=0,
        )
        db.add(row)
        credentials = None
        if issuer is not None:
            credentials = Credentials(client_id=f"business-{business_id}", client_secret=secrets.token_urlsafe(32))
            db.add(
                Client(
                    client_id=credentials.client_id,
                    business_id=business_id,
                    secret_hash=hash_secret(credentials.client_secret),
                    roles=Role.business_admin.value,
                )
            )
        await db.commit()
        return Registered(business=pii.business(row), credentials=credentials)

    async def business_row(db: AsyncSession, business_id: str) -> Business:
        row = await db.get(Business, business_id)
        if row is None:
            raise HTTPException(404, f"no business {business_id}")
        return row

    @api.get(
        "/v1/businesses/{business_id}", response_model=BusinessProfile, responses=declared(404), tags=["businesses"]
    )
    async def get_business(
        business_id: str = _id(),
        principal: Principal | None = Depends(auth.require()),
        db: AsyncSession = Depends(session),
    ) -> BusinessProfile:
        _own_business(principal, business_id, admin=False)
        return pii.business(await business_row(db, business_id))

    @api.patch(
        "/v1/businesses/{business_id}", response_model=BusinessProfile, responses=declared(404), tags=["businesses"]
    )
    async def update_business(
        body: BusinessUpdate,
        business_id: str = _id(),
        principal: Principal | None = Depends(auth.require(Role.business_admin)),
        db: AsyncSession = Depends(session),
    ) -> BusinessProfile:
        _own_business(principal, business_id)
        row = await business_row(db, business_id)
        pii.update(row, body, "businesses")
        await db.commit()
        return pii.business(row)

    @api.post(
        "/v1/businesses/{business_id}/users",
        status_code=201,
        response_model=UserProfile,
        responses=declared(404, 409),
        tags=["users"],
    )
    async def register_user(
        body: UserRegistration,
        business_id: str = _id(),
        principal: Principal | None = Depends(auth.require(Role.business_admin)),
        db: AsyncSession = Depends(session),
    ) -> UserProfile:
        _own_business(principal, business_id)
        await business_row(db, business_id)
        user_id = str(uuid.uuid4())
        row = User(
            id=user_id,
            business_id=business_id,
            name=body.name,
            email=body.email,
            role=body.role.value,
            phone_sealed=pii.seal(body.phone, "users", "phone", user_id),
            address_sealed=pii.seal(body.address, "users", "address", user_id),
        )
        db.add(row)
        try:
            await db.commit()
        except IntegrityError as error:
            raise HTTPException(409, f"a user with email {body.email} already exists in this business") from error
        return pii.user(row)

    async def user_row(db: AsyncSession, business_id: str, user_id: str, principal: Principal | None) -> User:
        if principal is not None and principal.subject != user_id:
            _own_business(principal, business_id)
        row = await db.get(User, user_id)
        if row is None or row.business_id != business_id:
            raise HTTPException(404, f"no user {user_id} in business {business_id}")
        return row

    @api.get(
        "/v1/businesses/{business_id}/users/{user_id}",
        response_model=UserProfile,
        responses=declared(404),
        tags=["users"],
    )
    async def get_user(
        business_id: str = _id(),
        user_id: str = _id(),
        principal: Principal | None = Depends(auth.require()),
        db: AsyncSession = Depends(session),
    ) -> UserProfile:
        """The business's administrators and the user themself."""
        return pii.user(await user_row(db, business_id, user_id, principal))

    @api.patch(
        "/v1/businesses/{business_id}/users/{user_id}",
        response_model=UserProfile,
        responses=declared(404),
        tags=["users"],
    )
    async def update_user(
        body: UserUpdate,
        business_id: str = _id(),
        user_id: str = _id(),
        principal: Principal | None = Depends(auth.require()),
        db: AsyncSession = Depends(session),
    ) -> UserProfile:
        row = await user_row(db, business_id, user_id, principal)
        pii.update(row, body, "users")
        await db.commit()
        return pii.user(row)

    if issuer is not None:
        _issuer_routes(api, issuer, sessions)
    _payment_routes(api, sessions, redis, settings)
    return api


def _issuer_routes(api: APIRouter, issuer: LocalIssuer, sessions: async_sessionmaker[AsyncSession]) -> None:
    @api.get("/.well-known/openid-configuration", tags=["oidc"])
    async def discovery() -> dict[str, Any]:
        return issuer.discovery()

    @api.get("/.well-known/jwks.json", tags=["oidc"])
    async def jwks() -> dict[str, Any]:
        return issuer.jwks()

    @api.post(
        "/oauth2/token",
        tags=["oidc"],
        response_model=Token,
        responses={400: {"model": OAuthError}, 401: {"model": OAuthError}},
        openapi_extra={"requestBody": TOKEN_FORM},
    )
    async def token(request: Request) -> JSONResponse:
        """Client-credentials grant (RFC 6749 §4.4), secret in the form or in HTTP Basic."""
        try:
            asked = client_credentials(await request.body(), request.headers.get("authorization"))
        except Refused as refused:
            return JSONResponse(refused.answer.model_dump(), status_code=refused.status)
        async with sessions() as db:
            client = await db.get(Client, asked.client_id)
        if client is None or not secret_matches(asked.client_secret, client.secret_hash):
            return JSONResponse(OAuthError(error="invalid_client", error_description=UNKNOWN_CLIENT).model_dump(), 401)
        subject = f"client:{asked.client_id}"
        access_token, lifetime = issuer.issue(subject, client.business_id, client.roles.split(","))
        body = Token(access_token=access_token, token_type="Bearer", expires_in=lifetime)
        return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})


def _payment_routes(
    api: APIRouter, sessions: async_sessionmaker[AsyncSession], redis: Redis, settings: ServiceSettings
) -> None:
    @api.post(
        "/v1/payments/webhook",
        tags=["payments"],
        response_model=payments.PaymentOutcome,
        responses={**declared(401, 409), 422: {"model": Invalid, "description": "Not a payment notification"}},
        openapi_extra={"requestBody": PAYMENT_NOTIFICATION},
    )
    async def webhook(
        request: Request,
        signature: str | None = Header(default=None, alias=payments.HEADER, description=payments.HEADER_FORMAT),
    ) -> JSONResponse:
        """Authentic, fresh and first-seen requests only; each event id takes effect exactly once (its row
        and the balance change commit together)."""
        if not settings.payments_webhook_secret:
            raise HTTPException(503, "payments webhook secret is not configured")
        body = await request.body()
        try:
            digest = payments.verify(
                settings.payments_webhook_secret, signature, body, settings.payments_tolerance_seconds
            )
        except payments.BadSignature as error:
            raise HTTPException(401, str(error)) from error
        try:
            event = payments.PaymentNotification.model_validate_json(body)
        except ValidationError as error:
            errors = error.errors(include_url=False, include_context=False, include_input=False)
            return JSONResponse({"detail": errors}, 422)
        nonce = f"payments:signature:{digest}"
        if not await redis.set(nonce, "1", nx=True, ex=2 * settings.payments_tolerance_seconds):
            raise HTTPException(409, "replayed request: this signature was already received")
        try:
            return await _apply(sessions, event)
        except Exception:
            await redis.delete(nonce)  # nothing took effect: the processor's retry must get through
            raise


async def _apply(sessions: async_sessionmaker[AsyncSession], event: payments.PaymentNotification) -> JSONResponse:
    async with sessions() as db:
        business = await db.get(Business, event.business_id)
        if business is None:
            detail = [{"loc": ["body", "businessId"], "msg": f"no business {event.business_id}", "type": "unknown"}]
            return JSONResponse({"detail": detail}, 422)
        if await db.get(PaymentEvent, event.id) is not None:
            return JSONResponse({"status": "duplicate", "eventId": event.id})
        sign = 1 if event.type == "payment.succeeded" else -1
        db.add(
            PaymentEvent(event_id=event.id, business_id=business.id, type=event.type, amount_cents=event.amount_cents)
        )
        # Added in the database, not read and written back: events of one business applied at once by two
        # replicas (or two workers) each count.
        balance = Business.balance_cents + sign * event.amount_cents
        try:
            await db.execute(update(Business).where(Business.id == business.id).values(balance_cents=balance))
            await db.commit()
        except IntegrityError:
            return JSONResponse({"status": "duplicate", "eventId": event.id})
    return JSONResponse({"status": "processed", "eventId": event.id})

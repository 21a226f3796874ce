"""Public request and response bodies of the account API."""

from pydantic import Field

from fabrikam.workloads.contracts import EMAIL_PATTERN as EMAIL
from fabrikam.workloads.contracts import PHONE_PATTERN as PHONE
from fabrikam.workloads.contracts import Contract
from fabrikam.workloads.kit.auth import Role


class BusinessRegistration(Contract):
    name: str = Field(min_length=1, max_length=200)
    contact_email: str = Field(pattern=EMAIL)
    phone: str | None = Field(default=None, pattern=PHONE)
    address: str | None = Field(default=None, max_length=500)


class BusinessUpdate(Contract):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, pattern=PHONE)
    address: str | None = Field(default=None, max_length=500)


class BusinessProfile(Contract):
    id: str
    name: str
    contact_email: str
    phone: str | None
    address: str | None
    balance_cents: int


class Credentials(Contract):
    """Client credentials for the local issuer's token endpoint (local runs only)."""

    client_id: str
    client_secret: str


class Registered(Contract):
    business: BusinessProfile
    credentials: Credentials | None


class UserRegistration(Contract):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL)
    role: Role
    phone: str | None = Field(default=None, pattern=PHONE)
    address: str | None = Field(default=None, max_length=500)


class UserUpdate(Contract):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, pattern=PHONE)
    address: str | None = Field(default=None, max_length=500)


class UserProfile(Contract):
    id: str
    business_id: str
    name: str
    email: str
    role: Role
    phone: str | None
    address: str | None

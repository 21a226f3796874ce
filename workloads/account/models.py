"""Public request and response bodies of the account API."""

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from fabrikam.workloads.contracts import LINE_PATTERN, Contract, Email
from fabrikam.workloads.contracts import PHONE_PATTERN as PHONE
from fabrikam.workloads.kit.auth import Role

# Sealed (`kit/pii.py`) into a column of 1,024 characters: "v1:" and the base64 of nonce, text and tag take
# 3 + 4 * ceil((28 + n) / 3) characters for n bytes of UTF-8, so at most 737 bytes fit.
ADDRESS_MAX_BYTES = 737


def _sealable(address: str) -> str:
    if len(address.encode()) > ADDRESS_MAX_BYTES:
        raise PydanticCustomError(
            "address_too_long", "address must be at most {limit} bytes of UTF-8", {"limit": ADDRESS_MAX_BYTES}
        )
    return address


# Stored in clear in a column of 200 characters.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LINE_PATTERN)]
Address = Annotated[str, Field(max_length=500), AfterValidator(_sealable)]


class BusinessRegistration(Contract):
    name: Name
    contact_email: Email
    phone: str | None = Field(default=None, pattern=PHONE)
    address: Address | None = None


class BusinessUpdate(Contract):
    name: Name | None = None
    phone: str | None = Field(default=None, pattern=PHONE)
    address: Address | None = None


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
    name: Name
    email: Email
    role: Role
    phone: str | None = Field(default=None, pattern=PHONE)
    address: Address | None = None


class UserUpdate(Contract):
    name: Name | None = None
    phone: str | None = Field(default=None, pattern=PHONE)
    address: Address | None = None


class UserProfile(Contract):
    id: str
    business_id: str
    name: str
    email: str
    role: Role
    phone: str | None
    address: str | None

"""Reading a client-credentials token request (RFC 6749 §4.4) from its form and its HTTP Basic header: pure, so
a request that cannot be read is an OAuth error with a reason, never an exception in the route."""

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from pydantic import BaseModel, Field

# Every client id this issuer hands out has this form; any other is unknown without asking the database (which,
# on PostgreSQL, refuses text with a NUL character instead of finding nothing).
CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
UNKNOWN_CLIENT = "unknown client or wrong secret"


class TokenForm(BaseModel):
    """`application/x-www-form-urlencoded`; the client's id and secret may come in HTTP Basic instead."""

    grant_type: str = Field(description="`client_credentials`, the only grant this issuer supports")
    client_id: str | None = None
    client_secret: str | None = None


class Token(BaseModel):
    access_token: str
    token_type: str = Field(description="`Bearer`")
    expires_in: int = Field(description="Seconds")


class OAuthError(BaseModel):
    """RFC 6749 §5.2."""

    error: str
    error_description: str


class Refused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.answer = OAuthError(error=error, error_description=description)
        self.status = status


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str


def client_credentials(body: bytes, authorization: str | None) -> ClientCredentials:
    """The client's credentials, or `Refused` with the OAuth error to answer."""
    try:
        form = {key: values[0] for key, values in parse_qs(body.decode(), strict_parsing=False).items()}
    except UnicodeDecodeError as error:
        raise Refused(400, "invalid_request", "the form is not UTF-8 text") from error
    if form.get("grant_type") != "client_credentials":
        raise Refused(400, "unsupported_grant_type", "only client_credentials is supported")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise Refused(400, "invalid_request", "HTTP Basic credentials must be base64 of UTF-8 id:secret") from error
    if not client_id or not client_secret:
        raise Refused(400, "invalid_request", "client_id and client_secret are required")
    if not CLIENT_ID.fullmatch(client_id):
        raise Refused(401, "invalid_client", UNKNOWN_CLIENT)
    return ClientCredentials(client_id, client_secret)

"""The payment processor's webhook signature (seed: webhooks without signature validation).

Header `Fabrikam-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`. A signature is valid
once: the same request again is a replay. Stale timestamps are refused, so an old captured request cannot
be replayed after its nonce expired.
"""

import hashlib
import hmac
import time
from typing import Literal

from pydantic import Field

from fabrikam.workloads.contracts import Contract

HEADER = "Fabrikam-Signature"
HEADER_FORMAT = 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>'
# The largest amount a PostgreSQL BIGINT (the balance column) holds; a larger one would fail in the database.
MAX_AMOUNT_CENTS = 2**63 - 1


class BadSignature(Exception):
    """The reason goes back in the 401."""


class PaymentNotification(Contract):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
    type: Literal["payment.succeeded", "payment.refunded"]
    business_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$")
    amount_cents: int = Field(strict=True, gt=0, le=MAX_AMOUNT_CENTS)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class PaymentOutcome(Contract):
    status: Literal["processed", "duplicate"]
    event_id: str


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, tolerance_seconds: int, now: float | None = None) -> str:
    """The signature's digest (the replay key) when the header is authentic and fresh."""
    if not header:
        raise BadSignature(f"missing {HEADER} header")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as error:
        raise BadSignature(f"malformed {HEADER} header") from error
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    # As bytes: compare_digest refuses str with non-ASCII characters, which a forged header may carry.
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise BadSignature("signature does not match")
    if abs((now or time.time()) - timestamp) > tolerance_seconds:
        raise BadSignature("stale timestamp")
    return given

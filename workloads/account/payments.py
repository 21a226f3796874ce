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


class BadSignature(Exception):
    """The reason goes back in the 401."""


class PaymentNotification(Contract):
    id: str = Field(min_length=1, max_length=128)
    type: Literal["payment.succeeded", "payment.refunded"]
    business_id: str = Field(min_length=1, max_length=64)
    amount_cents: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


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
    if not hmac.compare_digest(expected, given):
        raise BadSignature("signature does not match")
    if abs((now or time.time()) - timestamp) > tolerance_seconds:
        raise BadSignature("stale timestamp")
    return given

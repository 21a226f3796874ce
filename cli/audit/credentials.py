"""Whether a name or value gives a credential away: environment variables, ConfigMap keys, Secret keys.

Names are split into words (`SENDGRID_API_KEY`, `ConnectionStrings__Sql`, `apiKey` alike); a name that ends saying
where a secret is (`..._FILE`, `..._URL`) is not one. Values are matched for inline credentials only: a password in a
connection string or URL, an account key, a private key, a SendGrid key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from fabrikam.cli.audit.objects import mapping_at

_SECRET_PARTS = ("password", "passwd", "secret", "token", "bearer", "credential", "apikey", "accesskey", "privatekey")
_SECRET_WORDS = frozenset({"pwd", "sas", "key", "hmac", "jwt", "connectionstring"})
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("account", "key"),
        ("private", "key"),
        ("connection", "string"),
        ("connection", "strings"),
        ("conn", "str"),
        ("client", "secret"),
        ("key", "content"),
    }
)
# A name ending so says where or how a secret is, not the secret: FABRIKAM_PII_KEY_FILE, TOKEN_URL, KEY_VAULT_NAME.
_NOT_A_VALUE = frozenset(
    [
        "url",
        "uri",
        "endpoint",
        "issuer",
        "audience",
        "file",
        "path",
        "dir",
        "name",
        "id",
        "ttl",
        "timeout",
        "seconds",
        "minutes",
        "hours",
        "days",
        "lifetime",
        "expiry",
        "header",
        "type",
        "version",
        "enabled",
        "length",
        "algorithm",
        "prefix",
        "vault",
        "claim",
        "count",
        "size",
        "limit",
    ]
)

# Application Insights' connection string carries an instrumentation key, which identifies rather than authorises.
_NOT_SECRET_PREFIXES = ("APPLICATIONINSIGHTS_", "APPINSIGHTS_")
_SECRET_VALUE = re.compile(
    r"(?i)\b(?:password|pwd|accountkey|sharedaccesskey|sharedaccesssignature|sig)=[^;,&\s]+"
    r"|[a-z][a-z0-9+.-]*://[^/\s:@]*:[^@\s/]+@"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bSG\.[\w-]{16,}\.[\w-]{16,}"
)
_PROVIDERS = {
    "sendgrid": "SendGrid",
    "twilio": "Twilio",
    "stripe": "Stripe",
    "paypal": "PayPal",
    "braintree": "Braintree",
    "adyen": "Adyen",
    "mailgun": "Mailgun",
    "mailchimp": "Mailchimp",
    "payment": "payment processor",
    "weather": "weather API",
}


def words(name: str) -> list[str]:
    """`SENDGRID_API_KEY`, `sendgrid-api-key` and `sendGridApiKey` alike: lowercase words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return [word for word in re.split(r"[^a-z0-9]+", spaced) if word]


def secret_name(name: str) -> bool:
    """Whether a variable or key name says it holds a credential (a password, token, key, connection string)."""
    parts = words(name)
    if not parts or parts[-1] in _NOT_A_VALUE or name.upper().startswith(_NOT_SECRET_PREFIXES):
        return False
    if any(marker in part for part in parts for marker in _SECRET_PARTS) or parts[-1] in _SECRET_WORDS:
        return True
    return any(pair in _SECRET_PAIRS for pair in pairwise(parts))


def secret_value(value: str) -> bool:
    """Whether a value carries a credential inline: a password in a connection string or URL, a private key."""
    return bool(_SECRET_VALUE.search(value))


def provider(name: str) -> str | None:
    """The third party a name belongs to (SendGrid, Twilio, ...), if any."""
    lowered = name.lower()
    return next((label for key, label in _PROVIDERS.items() if key in lowered), None)


def _decoded(value: Any) -> str:
    """A Secret's `data` value as text (base64 as stored), or '' when it is not text."""
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def secret_values(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's keys with their text, from `data` (base64) and `stringData` alike."""
    values = {str(key): _decoded(value) for key, value in mapping_at(secret, "data").items()}
    values |= {str(key): str(value) for key, value in mapping_at(secret, "stringData").items()}
    return values

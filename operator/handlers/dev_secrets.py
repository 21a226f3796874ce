"""The development Secret of a service on a platform with in-cluster backing and no Key Vault: generated once.

Generating needs randomness, so it lives here and not in `render/`; the object itself comes from
`render.service.render_dev_secret`. The operator only creates Secrets (409: one exists, left as it is), never
reads them, so a value someone set by hand is never overwritten.
"""

import base64
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.apply.applier import ApplyError
from fabrikam.operator.apply.client import ApiError
from fabrikam.operator.handlers.runtime import RUNTIME
from fabrikam.operator.render import backing
from fabrikam.operator.render.service import render_dev_secret


def _issuer_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def generate(key: str) -> str:
    """A fresh value in the format the services read (see workloads/README.md, "Secrets")."""
    if key == backing.PII_KEY:
        return base64.b64encode(secrets.token_bytes(32)).decode()  # AES-256-GCM key, base64
    if key == backing.ACCOUNT_ISSUER_KEY:
        return _issuer_key()
    return secrets.token_urlsafe(32)


# (namespace, name, uid) of the services whose Secret this process has already created or found.
_ensured: set[tuple[str, str, str | None]] = set()


async def ensure(svc: DroneService, platform: DeliveryPlatform) -> None:
    """Creates the service's development Secret if it needs one and it does not exist yet."""
    keys = backing.dev_secret_keys(svc, platform)
    identity = (svc.namespace, svc.name, svc.metadata.uid)
    if not keys or identity in _ensured:
        return
    secret = render_dev_secret(svc, platform=platform, values={key: generate(key) for key in keys})
    try:
        await RUNTIME.kube().create(secret)
    except ApiError as error:
        raise ApplyError(secret, error) from error
    _ensured.add(identity)

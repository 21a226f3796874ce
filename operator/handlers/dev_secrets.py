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
from fabrikam.operator.handlers import operator_key
from fabrikam.operator.handlers.runtime import Runtime
from fabrikam.operator.render import backing, redis_acl
from fabrikam.operator.render.labels import Obj
from fabrikam.operator.render.service import render_dev_secret, render_redis_secret


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


async def ensure(runtime: Runtime, svc: DroneService, platform: DeliveryPlatform) -> None:
    """Creates the service's development Secret and its in-cluster Redis password if it needs them and they do
    not exist yet."""
    keys = backing.dev_secret_keys(svc, platform)
    if keys:
        values = {key: generate(key) for key in keys}
        await _create_once(runtime, "dev", svc, render_dev_secret(svc, platform=platform, values=values))
    if backing.uses_redis(svc, platform):
        key = operator_key.load(runtime.settings.key_file)
        password = redis_acl.password(key, platform.name, svc.namespace, svc.name)
        await _create_once(runtime, "redis", svc, render_redis_secret(svc, platform=platform, password=password))


async def _create_once(runtime: Runtime, kind: str, svc: DroneService, secret: Obj) -> None:
    identity = (kind, svc.namespace, svc.name, svc.metadata.uid)
    if identity in runtime.dev_secrets:
        return
    try:
        await runtime.kube().create(secret)
    except ApiError as error:
        raise ApplyError(secret, error) from error
    runtime.dev_secrets.add(identity)

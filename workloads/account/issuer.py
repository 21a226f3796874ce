"""The local OAuth2/OIDC issuer: an RS256 key from a file, discovery, JWKS and signed access tokens.

In Azure, Microsoft Entra ID issues the tokens and this issuer is switched off
(`FABRIKAM_ACCOUNT_LOCAL_ISSUER=false`). Where it runs in pods, every replica must sign with the same key, so the
key is the secrets directory's `account-issuer-key` (an unencrypted PEM RSA private key), never generated there;
only a local run generates one.
"""

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fabrikam.workloads.kit.settings import KeyFile

MIN_KEY_BITS = 2048


class LocalIssuer:
    def __init__(self, issuer: str, audience: str, key: rsa.RSAPrivateKey, lifetime_seconds: int) -> None:
        self.issuer = issuer.rstrip("/")
        self._audience = audience
        self._lifetime = lifetime_seconds
        self._key = key
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self._kid = hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()[:16]
        self._jwk = {**public, "kid": self._kid, "use": "sig", "alg": "RS256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._jwk]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
            "token_endpoint": f"{self.issuer}/oauth2/token",
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def issue(self, subject: str, business_id: str, roles: list[str]) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self._lifetime,
            "jti": secrets.token_hex(8),
            "roles": roles,
            "business_id": business_id,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid}), self._lifetime


def load_signing_key(key: KeyFile) -> rsa.RSAPrivateKey:
    """The RSA key in `key.path` (PEM, PKCS#8 or PKCS#1, unencrypted); generated there first if allowed."""
    if key.create and not key.path.exists():
        _write_new_key(key.path)
    try:
        loaded = serialization.load_pem_private_key(key.path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"issuer key file {key.path} is not an unencrypted PEM private key: {error}") from error
    if not isinstance(loaded, rsa.RSAPrivateKey) or loaded.key_size < MIN_KEY_BITS:
        raise ValueError(f"issuer key file {key.path} must hold an RSA private key of at least {MIN_KEY_BITS} bits")
    return loaded


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """scrypt, so a leaked clients table does not give the secrets away."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def secret_matches(secret: str, stored: str) -> bool:
    _, salt, _ = stored.split("$")
    return hmac.compare_digest(hash_secret(secret, bytes.fromhex(salt)), stored)

"""PII encrypted at rest with AES-256-GCM (seed: addresses and phone numbers stored in clear).

The key is a file: generated locally on first use; in Azure a Key Vault secret mounted by the Secrets Store
CSI driver at the same path (`FABRIKAM_PII_KEY_FILE`, `FABRIKAM_PII_KEY_CREATE=false`), so the key never sits
in an image, an environment variable or a Kubernetes secret. The file holds the key as standard base64 text
(44 characters for 32 bytes; whitespace and a trailing newline are ignored), which is what the CSI driver
writes for a Key Vault secret set with `az keyvault secret set --name pii-key --value "$(openssl rand -base64
32)"`. Each value is bound to where it belongs (its context, e.g. `users.phone:<id>`): a ciphertext copied to
another row does not decrypt.
"""

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the PII key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    @classmethod
    def from_key_file(cls, path: Path, create: bool) -> "FieldCipher":
        """Read the base64 key; with `create`, write a fresh one (mode 0600) when the file is missing."""
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"PII key file {path} is missing (FABRIKAM_PII_KEY_FILE)")
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode())
        return cls(read_key(path))

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> str:
        version, _, payload = token.partition(":")
        if version != VERSION:
            raise ValueError(f"unknown PII ciphertext version {version!r}")
        raw = base64.b64decode(payload)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


def read_key(path: Path) -> bytes:
    """The 32-byte key from its base64 text; a wrong format fails at startup, naming the file and the fix."""
    try:
        key = base64.b64decode("".join(path.read_text().split()), validate=True)
    except (OSError, UnicodeDecodeError, binascii.Error) as error:
        raise ValueError(f"PII key file {path} is not base64 text: {error}") from error
    if len(key) != 32:
        raise ValueError(
            f"PII key file {path} holds {len(key)} bytes; it must be the base64 of 32 random bytes"
            " (openssl rand -base64 32)"
        )
    return key

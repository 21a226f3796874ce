"""Kubeconfig files for the admin and each control-plane component (client certificates, one CA)."""

from pathlib import Path
from typing import Any

import yaml

from fabrikam.devcluster.pki import KeyPair

CONTEXT = "fabrikam-local"


def render(server: str, ca: Path, client: KeyPair, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }


def write(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    path.write_text(yaml.safe_dump(render(server, ca, client, user), sort_keys=False))
    path.chmod(0o600)
    return path

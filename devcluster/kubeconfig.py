"""Kubeconfig files for the admin and each control-plane component (client certificates, one CA), and for a
ServiceAccount (a token), which the tests use to run the operator with a pod's identity off-cluster."""

import base64
from pathlib import Path
from typing import Any

import yaml

from fabrikam.devcluster import kubectl
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


def for_service_account(admin: Path, namespace: str, account: str, token: str) -> dict[str, Any]:
    """A kubeconfig for the cluster the kubeconfig `admin` uses, holding only `token` of `namespace/account` and the
    CA inline (the file stands alone). Its namespace is the account's, as in a pod: cluster-scoped objects' Events go
    there."""
    config = yaml.safe_load(admin.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    if "certificate-authority" in cluster:
        ca = Path(cluster["certificate-authority"]).read_bytes()
        cluster = {"server": cluster["server"], "certificate-authority-data": base64.b64encode(ca).decode()}
    user = f"system:serviceaccount:{namespace}:{account}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "cluster", "user": user, "namespace": namespace}}],
        "current-context": account,
    }


def write_service_account(path: Path, admin: Path, namespace: str, account: str) -> Path:
    """A TokenRequest token of `namespace/account`, valid for an hour, asked for with `admin`, written to `path` as a
    kubeconfig of its own (`for_service_account`) that only its owner may read."""
    token = kubectl.run(admin, "create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    path.write_text(yaml.safe_dump(for_service_account(admin, namespace, account, token)))
    path.chmod(0o600)
    return path

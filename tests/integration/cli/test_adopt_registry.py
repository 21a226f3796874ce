"""Digest resolution of `fabrikam adopt` against real registries: the project's own (CNCF distribution on loopback,
anonymous), and the same registry binary serving the same storage read-only behind bearer-token authentication, as
Docker Hub, ACR or GHCR do: 401 with a `WWW-Authenticate: Bearer` challenge, an anonymous token from the realm, the
request again with it. Nothing is pushed: the tags are those `make image` left in the registry."""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
import typer
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from fabrikam.cli.adopt.command import adopt_command
from fabrikam.cli.adopt.registry import lookup_digest, resolve_digest
from fabrikam.devcluster import registry, toolchain
from fabrikam.devcluster.processes import free_port

BINARY = toolchain.expected_binaries().registry
SERVICE = "fabrikam-adopt-test"
ISSUER = "fabrikam-adopt-test-issuer"

pytestmark = pytest.mark.skipif(
    not os.access(BINARY, os.X_OK), reason=f"no registry binary at {BINARY} (`fabrikam registry up` installs it)"
)


@dataclass(frozen=True)
class Tagged:
    """An image the project's registry already holds, and the digest it reports for the tag."""

    address: str
    repository: str
    tag: str
    digest: str

    @property
    def image(self) -> str:
        return f"{self.address}/{self.repository}:{self.tag}"


@pytest.fixture(scope="module")
def project_registry() -> Iterator[str]:
    """The per-machine registry, started as `make image` starts it; stopped again only if this module started it."""
    was_running = registry.status().running
    address = registry.up().address
    yield address
    if not was_running:
        registry.down()


@pytest.fixture(scope="module")
def tagged(project_registry: str) -> Tagged:
    with httpx.Client(base_url=f"http://{project_registry}", trust_env=False, timeout=10) as client:
        for repository in sorted(client.get("/v2/_catalog").json().get("repositories") or []):
            tags = client.get(f"/v2/{repository}/tags/list").json().get("tags") or []
            if tags:
                tag = sorted(tags)[0]
                digest = registry.manifest_digest(project_registry, repository, tag)
                assert digest is not None
                return Tagged(project_registry, repository, tag, digest)
    pytest.skip("the project's registry holds no image yet (`make image` pushes them)")


def test_the_digest_is_the_one_the_registry_reports(tagged: Tagged) -> None:
    assert resolve_digest(tagged.image) == tagged.digest


def test_an_unknown_tag_has_no_digest_and_says_so(tagged: Tagged) -> None:
    resolution = lookup_digest(f"{tagged.address}/{tagged.repository}:no-such-tag-{uuid.uuid4().hex[:8]}")
    assert (resolution.digest, resolution.reason) == (None, "the registry has no such tag")


def test_adopt_pins_the_deployment_image_to_that_digest(tagged: Tagged, tmp_path: Path) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pause", "namespace": "default", "labels": {"team": "platform"}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {"containers": [{"name": "pause", "image": tagged.image, "ports": [{"containerPort": 8080}]}]}
            },
        },
    }
    manifests = tmp_path / "deployment.yaml"
    manifests.write_text(yaml.safe_dump(deployment))
    app = typer.Typer()
    app.command()(adopt_command)
    result = CliRunner().invoke(app, [str(manifests), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((tmp_path / "out" / "platform" / "pause.yaml").read_text())
    assert written["spec"]["image"] == {"repository": f"{tagged.address}/{tagged.repository}", "digest": tagged.digest}
    assert "adopted-image" not in str(written["metadata"])
    patch = yaml.safe_load((tmp_path / "out" / "platform-teams.yaml").read_text())
    assert patch["spec"]["allowedRegistries"] == [f"{tagged.address}/"]


@dataclass
class TokenService:
    """The realm of a token-authenticated registry: grants anonymous pull tokens signed with its key (the registry
    trusts its certificate), or refuses them all."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    refuse: bool = False
    asked: list[dict[str, list[str]]] = field(default_factory=list)

    def token(self, query: dict[str, list[str]]) -> str:
        _, repository, _ = query["scope"][0].split(":")
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": "",
            "aud": query["service"][0],
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [{"type": "repository", "name": repository, "actions": ["pull"]}],
        }
        chain = [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()]
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"x5c": chain, "typ": "JWT"})


def _certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
def token_service() -> Iterator[tuple[TokenService, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    service = TokenService(key, _certificate(key))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            service.asked.append(query)
            status, body = (
                (401, {"errors": [{"code": "DENIED"}]}) if service.refuse else (200, {"token": service.token(query)})
            )
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service, f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


@pytest.fixture
def authenticated_registry(tagged: Tagged, token_service: tuple[TokenService, str], tmp_path: Path) -> Iterator[str]:
    """The registry binary over the project's storage, read-only (nothing written, no upload purged), requiring
    bearer tokens from the token service."""
    service, realm = token_service
    bundle = tmp_path / "token-issuer.pem"
    bundle.write_bytes(service.certificate.public_bytes(serialization.Encoding.PEM))
    address = f"127.0.0.1:{free_port()}"
    config = {
        "version": "0.1",
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(registry.registry_dir() / "storage")},
            "maintenance": {"uploadpurging": {"enabled": False}, "readonly": {"enabled": True}},
        },
        "http": {"addr": address},
        "auth": {"token": {"realm": realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(bundle)}},
    }
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    with open(tmp_path / "registry.log", "wb") as log:
        process = subprocess.Popen(
            [str(BINARY), "serve", str(tmp_path / "config.yml")],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"OTEL_TRACES_EXPORTER": "none", "PATH": os.environ.get("PATH", "")},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://{address}/v2/", trust_env=False).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "registry.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "registry.log").read_text()
            time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_anonymous_token_flow_gets_the_digest(
    tagged: Tagged, authenticated_registry: str, token_service: tuple[TokenService, str]
) -> None:
    service, _ = token_service
    image = f"{authenticated_registry}/{tagged.repository}:{tagged.tag}"
    assert resolve_digest(image) == tagged.digest
    assert service.asked[-1]["scope"] == [f"repository:{tagged.repository}:pull"]
    assert service.asked[-1]["service"] == [SERVICE]


def test_a_refused_token_falls_back_with_the_reason(
    tagged: Tagged, authenticated_registry: str, token_service: tuple[TokenService, str]
) -> None:
    service, realm = token_service
    service.refuse = True
    resolution = lookup_digest(f"{authenticated_registry}/{tagged.repository}:{tagged.tag}")
    assert resolution.digest is None
    assert resolution.reason == f"the token service {realm} refused an anonymous pull token (401)"

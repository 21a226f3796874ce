"""Fixtures of the Azure integration tests: a test CA, the fake ARM serving TLS with it, and the operator's Azure
clients pointed at the fake with a static token, exactly as they are built in the cluster otherwise."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import ipaddress
import json
import ssl
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.azure import AzureClients, AzureSettings, delete_platform, reconcile_platform


def _load_fake_arm() -> Any:
    """The fake ARM lives beside this file; pytest's importlib mode makes test folders non-packages."""
    spec = importlib.util.spec_from_file_location("fabrikam_fake_arm", Path(__file__).with_name("fake_arm.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fake_arm_module = _load_fake_arm()
TOKEN = fake_arm_module.TOKEN
FakeArm = fake_arm_module.FakeArm


class StaticCredential:
    """An async token credential that always returns the fake ARM's token."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="session")
def arm_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ssl.SSLContext]]:
    """A throwaway CA and a server certificate for 127.0.0.1: azure-core sends bearer tokens over TLS only."""
    directory = tmp_path_factory.mktemp("fake-arm-pki")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("fake-arm-ca"))
        .issuer_name(_name("fake-arm-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return ca_path, context


@pytest.fixture
async def fake_arm(arm_tls: tuple[Path, ssl.SSLContext]) -> AsyncIterator[Any]:
    arm = FakeArm(arm_tls[1])
    await arm.start()
    try:
        yield arm
    finally:
        await arm.stop()


def settings_for(arm: Any, ca: Path, **overrides: Any) -> AzureSettings:
    """Production settings with test-sized clocks: fast polling and backoff, a deadline that fits a test."""
    values: dict[str, Any] = {
        "base_url": arm.base_url,
        "connection_verify": str(ca),
        "polling_interval": 0.05,
        "lro_timeout": 20.0,
        "retry_total": 4,
        "retry_backoff_factor": 0.05,
        "retry_backoff_max": 0.5,
    }
    return AzureSettings(**(values | overrides))


@pytest.fixture
async def azure(fake_arm: Any, arm_tls: tuple[Path, ssl.SSLContext]) -> AsyncIterator[AzureClients]:
    async with AzureClients(StaticCredential(), SUBSCRIPTION, settings_for(fake_arm, arm_tls[0])) as clients:
        yield clients


SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e0"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ISSUER = "https://westus2.oic.prod-aks.azure.com/72f988bf-86f1-41af-91ab-2d7cd011db47/5c0a7c3f/"
DIGEST = "sha256:" + "a" * 64


def build_platform(**azure_overrides: Any) -> DeliveryPlatform:
    """A platform with Service Bus (one queue), Redis and the Azure coordinates of the fake subscription."""
    azure = {
        "subscriptionId": SUBSCRIPTION,
        "tenantId": TENANT,
        "resourceGroup": "rg-fabrikam-test",
        "location": "westus2",
        "tags": {"cost-center": "cc-1234"},
        "oidcIssuerUrl": ISSUER,
    } | azure_overrides
    return DeliveryPlatform.model_validate(
        {
            "metadata": {"name": "prod", "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
            "spec": {
                "image": {"repository": "fabrikam.azurecr.io/fabrikam/drone-delivery", "digest": DIGEST},
                "azure": azure,
                "messaging": {"serviceBus": {"queues": [{"name": "delivery-requests"}]}},
                "cache": {"redis": {}},
                "teams": [
                    {
                        "name": "shipping",
                        "namespace": "shipping",
                        "costCenter": "cc-ship",
                        # The team's own services here use the pipeline's queue: granted (docs/tenancy.md).
                        "queues": [{"name": "delivery-requests", "access": ["send", "receive"]}],
                        "services": ["ingestion", "workflow", "delivery", "drone-scheduler"],
                    },
                    {
                        "name": "accounts",
                        "namespace": "accounts",
                        "costCenter": "cc-acct",
                        "services": ["package", "notification", "account", "drone-telemetry"],
                    },
                ],
            },
        }
    )


def build_service(name: str, *, namespace: str = "shipping", component: str = "custom", uses: Any = ()) -> DroneService:
    return DroneService.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "platformRef": {"name": "prod"},
                "component": component,
                "image": {"repository": "fabrikam.azurecr.io/fabrikam/drone-delivery", "digest": DIGEST},
                "uses": list(uses),
            },
        }
    )


@pytest.fixture
def make_platform() -> Any:
    return build_platform


@pytest.fixture
def make_service() -> Any:
    return build_service


@pytest.fixture
def make_clients(fake_arm: Any, arm_tls: tuple[Path, ssl.SSLContext]) -> Any:
    """Fresh clients (a restarted operator) or clients with other settings, e.g. a short LRO deadline."""

    def make(**overrides: Any) -> AzureClients:
        return AzureClients(StaticCredential(), SUBSCRIPTION, settings_for(fake_arm, arm_tls[0], **overrides))

    return make


@pytest.fixture
async def arm_client(fake_arm: Any, arm_tls: tuple[Path, ssl.SSLContext]) -> AsyncIterator[Any]:
    """Any azure-mgmt `.aio` management client class, built against the fake ARM with the settings the operator's
    own clients get (so tests of the fake exercise the SDKs exactly as production does); closed at teardown."""
    made: list[Any] = []

    def make(client_class: Any, **overrides: Any) -> Any:
        kwargs = settings_for(fake_arm, arm_tls[0], **overrides).client_kwargs()
        client = client_class(StaticCredential(), SUBSCRIPTION, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


class ArmThread:
    """The fake ARM on an event loop of its own, so it answers while the test blocks on kubectl."""

    def __init__(self, fake_arm_class: Any, context: ssl.SSLContext) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.arm = fake_arm_class(context)
        asyncio.run_coroutine_threadsafe(self.arm.start(), self.loop).result(timeout=30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.arm.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def arm(arm_tls: tuple[Path, ssl.SSLContext]) -> Iterator[Any]:
    """The fake ARM for a whole module, answering while the test blocks (for an operator process)."""
    running = ArmThread(FakeArm, arm_tls[1])
    yield running.arm
    running.stop()


@pytest.fixture(scope="module")
def operator_resync_seconds() -> str:
    """The operator's resync period in the module's `azure_operator`; a module overrides it by redefining this."""
    return "10"


@pytest.fixture(scope="module")
def azure_operator(
    operator_factory: Any,
    arm: Any,
    arm_tls: tuple[Path, ssl.SSLContext],
    tmp_path_factory: Any,
    operator_resync_seconds: str,
) -> Any:
    """An operator process whose Azure clients talk to the module's fake ARM."""
    token_file = tmp_path_factory.mktemp("azure") / "token"
    token_file.write_text(TOKEN)
    return operator_factory(
        {
            "FABRIKAM_OPERATOR_RESYNC_SECONDS": operator_resync_seconds,
            "FABRIKAM_OPERATOR_AZURE_BASE_URL": arm.base_url,
            "FABRIKAM_OPERATOR_AZURE_CA_BUNDLE": str(arm_tls[0]),
            "FABRIKAM_OPERATOR_AZURE_TOKEN_FILE": str(token_file),
            "FABRIKAM_OPERATOR_AZURE_POLLING_SECONDS": "0.2",
            "FABRIKAM_OPERATOR_AZURE_RETRY_SECONDS": "2",
        }
    )


OPERATOR_SUBSCRIPTION = "00000000-0000-0000-0000-00000000c1a5"
ISSUER = "https://westus2.oic.prod-aks.azure.com/72f988bf-86f1-41af-91ab-2d7cd011db47/0c1a5/"


def with_key_vault(platform: dict[str, Any], arm: Any) -> str:
    """A Key Vault in the platform's resource group (made outside the operator, as in Azure), named in its spec."""
    vault = f"kv-{uuid.uuid4().hex[:12]}"
    arm.add_vault(OPERATOR_SUBSCRIPTION, platform["spec"]["azure"]["resourceGroup"], vault)
    platform["spec"]["azure"]["keyVaultName"] = vault
    return vault


def azure_platform(platform: dict[str, Any], deletion_policy: str) -> dict[str, Any]:
    """A sample platform (unique names) with `spec.azure` pointing at the fake ARM's subscription."""
    platform["spec"]["azure"] = {
        "subscriptionId": OPERATOR_SUBSCRIPTION,
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "resourceGroup": f"rg-{platform['metadata']['name']}",
        "location": "westus2",
        "oidcIssuerUrl": ISSUER,
        "deletionPolicy": deletion_policy,
        "tags": {"environment": "test"},
    }
    return platform


# The Secrets Store CSI driver's SecretProviderClass, as its chart installs it (the operator renders one per service
# that mounts Key Vault objects, e.g. package with `databases.cosmosDb`); the schema is left open: the driver, not the
# apiserver, reads the parameters.
SECRET_PROVIDER_CLASS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "secretproviderclasses.secrets-store.csi.x-k8s.io"},
    "spec": {
        "group": "secrets-store.csi.x-k8s.io",
        "names": {
            "kind": "SecretProviderClass",
            "listKind": "SecretProviderClassList",
            "plural": "secretproviderclasses",
            "singular": "secretproviderclass",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


@pytest.fixture(scope="module")
def secret_provider_classes(cluster: Any) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(SECRET_PROVIDER_CLASS_CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/secretproviderclasses.secrets-store.csi.x-k8s.io")


async def converged(platform: DeliveryPlatform, azure: AzureClients, *, passes: int = 30) -> Any:
    """Reconcile passes until Azure finished what the first ones started (a long-running operation, an alias
    `Accepted` for a moment); fails naming what is not ready after `passes`."""
    for _ in range(passes):
        outcome = await reconcile_platform(platform, azure)
        if outcome.ready and not outcome.requeue:
            return outcome
        await asyncio.sleep(0.1)
    raise AssertionError(f"not converged: {[r for r in outcome.resources if not r.ok]}")


async def fully_deleted(platform: DeliveryPlatform, azure: AzureClients, *, passes: int = 30) -> Any:
    """Delete passes until Azure confirmed every deletion (or retention); fails naming what is left."""
    for _ in range(passes):
        outcome = await delete_platform(platform, azure)
        if outcome.ready:
            return outcome
        await asyncio.sleep(0.1)
    raise AssertionError(f"not deleted: {[r for r in outcome.resources if not r.ok]}")

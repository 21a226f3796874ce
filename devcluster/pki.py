"""Certificates for the local control plane, generated with `cryptography` (no openssl, no cfssl)."""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPki:
    ca: KeyPair
    apiserver: KeyPair
    admin: KeyPair
    controller_manager: KeyPair
    scheduler: KeyPair
    # The API server's identity towards kubelets (logs, exec, port-forward) and towards aggregated APIs
    # (metrics-server), which trust it through --requestheader-allowed-names=front-proxy-client.
    kubelet_client: KeyPair
    front_proxy_client: KeyPair
    service_account_key: Path
    service_account_public_key: Path


def _write_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: list[x509.ObjectIdentifier] | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _write_pair(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> KeyPair:
    pair = KeyPair(cert=directory / f"{stem}.crt", key=directory / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, pair.key)
    return pair


def generate(directory: Path, extra_ips: tuple[str, ...] = ()) -> ClusterPki:
    """One CA signs the serving certificate and every client certificate; SA tokens get their own RSA key.

    `extra_ips`: more addresses the API server is reached at (the real nodes' bridge address)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue(_name("fabrikam-local-ca"), ca_key, None)
    ca = _write_pair(directory, "ca", ca_cert, ca_key)
    issuer = (ca_cert, ca_key)

    def client(stem: str, common_name: str, organization: str | None = None) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(_name(common_name, organization), key, issuer, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
        return _write_pair(directory, stem, cert, key)

    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving_sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "10.96.0.1", *extra_ips)),
    ]
    serving_cert = _issue(
        _name("kube-apiserver"),
        serving_key,
        issuer,
        usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        sans=serving_sans,
    )
    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_private = directory / "service-account.key"
    _write_key(service_account_key, sa_private)
    sa_public = directory / "service-account.pub"
    sa_public.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return ClusterPki(
        ca=ca,
        apiserver=_write_pair(directory, "apiserver", serving_cert, serving_key),
        admin=client("admin", "fabrikam-admin", "system:masters"),
        controller_manager=client("kube-controller-manager", "system:kube-controller-manager"),
        scheduler=client("kube-scheduler", "system:kube-scheduler"),
        kubelet_client=client("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        front_proxy_client=client("front-proxy-client", "front-proxy-client"),
        service_account_key=sa_private,
        service_account_public_key=sa_public,
    )


@dataclass(frozen=True)
class Issuer:
    """The cluster's CA, loaded from its folder, issuing the certificates of components added later (real nodes)."""

    directory: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, directory: Path) -> "Issuer":
        cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{directory / 'ca.key'} is not an EC key")
        return cls(directory, cert, key)

    def client(self, stem: str, common_name: str, organization: str | None = None) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(
            _name(common_name, organization), key, (self.cert, self.key), usage=[ExtendedKeyUsageOID.CLIENT_AUTH]
        )
        return _write_pair(self.directory, stem, cert, key)

    def serving(self, stem: str, common_name: str, dns_names: list[str], ips: list[str]) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = _issue(
            _name(common_name), key, (self.cert, self.key), usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans
        )
        return _write_pair(self.directory, stem, cert, key)

"""Certificates chain to one CA with the right identities; nodes carry the zone and spot layout of AKS."""

import base64
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fabrikam.devcluster import kubeconfig, nodes, pki


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_every_certificate_is_signed_by_the_cluster_ca_with_its_identity(tmp_path: Path) -> None:
    certs = pki.generate(tmp_path)
    ca = _load(certs.ca.cert)
    for pair in (certs.apiserver, certs.admin, certs.controller_manager, certs.scheduler):
        cert = _load(pair.cert)
        cert.verify_directly_issued_by(ca)
        assert pair.key.stat().st_mode & 0o777 == 0o600
    admin = _load(certs.admin.cert).subject
    assert admin.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    kcm = _load(certs.controller_manager.cert).subject
    assert kcm.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-controller-manager"
    serving = _load(certs.apiserver.cert)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert ExtendedKeyUsageOID.SERVER_AUTH in serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value


def test_kubeconfig_points_at_the_server_with_client_certificates(tmp_path: Path) -> None:
    certs = pki.generate(tmp_path)
    document = kubeconfig.render("https://127.0.0.1:6443", certs.ca.cert, certs.admin, "admin")
    assert document["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority": str(certs.ca.cert),
    }
    assert document["users"][0]["user"]["client-certificate"] == str(certs.admin.cert)


def test_a_service_account_kubeconfig_holds_its_token_and_the_ca_inline(tmp_path: Path) -> None:
    """The operator run with a pod's identity off-cluster: nothing of the admin's but the server and its CA."""
    certs = pki.generate(tmp_path)
    admin = kubeconfig.write(tmp_path / "admin.kubeconfig", "https://127.0.0.1:6443", certs.ca.cert, certs.admin, "a")

    document = kubeconfig.for_service_account(admin, "fabrikam-system", "fabrikam-operator", "t0ken")

    assert document["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(certs.ca.cert.read_bytes()).decode(),
    }
    user = "system:serviceaccount:fabrikam-system:fabrikam-operator"
    assert document["users"] == [{"name": user, "user": {"token": "t0ken"}}]
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
    assert context == {"cluster": "cluster", "user": user, "namespace": "fabrikam-system"}


def test_three_zonal_nodes_and_one_spot_node_with_the_aks_taint() -> None:
    desired = nodes.desired_nodes()
    zonal = [n for n in desired if nodes.SPOT_LABEL not in n["metadata"]["labels"]]
    spot = [n for n in desired if nodes.SPOT_LABEL in n["metadata"]["labels"]]
    assert sorted(n["metadata"]["labels"][nodes.ZONE_LABEL] for n in zonal) == ["1", "2", "3"]
    assert all(n["spec"]["taints"] == [] for n in zonal)
    assert len(spot) == 1
    assert spot[0]["metadata"]["labels"][nodes.SPOT_LABEL] == "spot"
    assert spot[0]["spec"]["taints"] == [{"key": nodes.SPOT_LABEL, "value": "spot", "effect": "NoSchedule"}]
    assert all(n["status"]["allocatable"]["pods"] for n in desired)

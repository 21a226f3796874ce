"""The chart's ValidatingAdmissionPolicy and its binding as rendered by the pinned helm: present by default, gone
with admissionPolicy.enabled=false, exempting exactly the ServiceAccount the operator's pod runs as.

What the policy admits and refuses is proven against a real API server in tests/integration/chart."""

import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import toolchain

CHART = Path(__file__).resolve().parents[3] / "charts" / "operator"
HELM = toolchain.expected_binaries().helm
POLICY, BINDING = "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"the pinned helm is not built yet ({HELM}): make toolchain")


@functools.cache
def _render(*settings: str, release: str = "fabrikam-operator", namespace: str = "fabrikam-system") -> dict[str, Any]:
    """{kind: object} of the chart rendered with these --set values (one object per kind here)."""
    command = [str(HELM), "template", release, str(CHART), "-n", namespace]
    for setting in settings:
        command += ["--set", setting]
    rendered = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    return {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] != "ClusterRole"}


def _exempted_user(policy: dict[str, Any]) -> str:
    [condition] = [c for c in policy["spec"]["matchConditions"] if c["name"] == "not-the-operator"]
    match = re.fullmatch(r"request\.userInfo\.username != '([^']+)'", condition["expression"])
    assert match, condition["expression"]
    return match.group(1)


def test_the_policy_judges_team_droneservices_against_every_platform() -> None:
    objects = _render()
    policy, binding = objects[POLICY], objects[BINDING]
    assert policy["metadata"]["name"] == binding["metadata"]["name"] == binding["spec"]["policyName"]
    assert policy["spec"]["paramKind"] == {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
    }
    assert policy["spec"]["failurePolicy"] == "Fail"
    # A wildcard version would silently turn off the API server's type checking of the expressions.
    assert policy["spec"]["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["dronedelivery.fabrikam.io"],
            "apiVersions": ["v1alpha1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["droneservices"],
        }
    ]
    assert {v["reason"] for v in policy["spec"]["validations"]} == {"Forbidden"}
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["paramRef"] == {"selector": {}, "parameterNotFoundAction": "Allow"}
    assert "object.spec.platformRef.name == params.metadata.name" in [
        c["expression"] for c in policy["spec"]["matchConditions"]
    ]


def test_each_rule_names_the_field_to_fix() -> None:
    messages = [v["messageExpression"] for v in _render()[POLICY]["spec"]["validations"]]
    named = [re.findall(r'^"(spec\.[A-Za-z.\[\]]+)', message) for message in messages]
    assert named == [["spec.component"], ["spec.image.repository"], ["spec.uses[].name"]]
    assert "the platform's spec.teams[].queues must grant it" in messages[2]


def test_admission_policy_enabled_false_renders_neither_object() -> None:
    objects = _render("admissionPolicy.enabled=false")
    assert {POLICY, BINDING}.isdisjoint(objects)
    assert "Deployment" in objects


@pytest.mark.parametrize(
    ("settings", "release", "namespace"),
    [
        ((), "fabrikam-operator", "fabrikam-system"),
        ((), "drones", "platform-ops"),
        (("fullnameOverride=fleet",), "drones", "platform-ops"),
        (("serviceAccount.name=operator-identity",), "fabrikam-operator", "fabrikam-system"),
        (("serviceAccount.create=false", "serviceAccount.name=platform-operator"), "fabrikam-operator", "ops"),
    ],
)
def test_the_exempted_requester_is_the_service_account_the_operator_runs_as(
    settings: tuple[str, ...], release: str, namespace: str
) -> None:
    objects = _render(*settings, release=release, namespace=namespace)
    account = objects["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"]
    assert _exempted_user(objects[POLICY]) == f"system:serviceaccount:{namespace}:{account}"


def test_the_kustomize_copy_is_the_default_rendering() -> None:
    """config/admission, for GitOps without Helm, exempts the operator of config/default."""
    generated = Path(__file__).resolve().parents[3] / "config" / "admission" / "tenancy_policy.yaml"
    policy = next(doc for doc in yaml.safe_load_all(generated.read_text()) if doc and doc["kind"] == POLICY)
    assert _exempted_user(policy) == "system:serviceaccount:fabrikam-system:fabrikam-operator"
    assert policy["spec"] == _render()[POLICY]["spec"]

"""The chart's ClusterRoles are derived from the code, verb by verb: nothing missing, nothing more, no wildcard.

Read from config/rbac/role.yaml, the chart rendered with its defaults (kept equal to the chart by
tests/integration/chart). The e2e test tests/e2e/chart proves the same rules in a real cluster."""

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.operator.api import GROUP
from fabrikam.operator.apply.resources import APPLY_ORDER, RESOURCES
from fabrikam.operator.handlers.children import WATCHED
from fabrikam.operator.render.team import ROLE_RULES

ROOT = Path(__file__).resolve().parents[3]
RBAC = ROOT / "config" / "rbac"
ROLES = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all((RBAC / "role.yaml").read_text()) if doc}
OPERATOR, TEAM_GRANTS = "fabrikam-operator", "fabrikam-operator-team-grants"
Grants = dict[tuple[str, str], set[str]]


def _grants(rules: Iterable[dict[str, Any]]) -> Grants:
    """(apiGroup, resource) -> verbs, the union over every rule."""
    grants: Grants = defaultdict(set)
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants[(group, resource)] |= set(rule["verbs"])
    return dict(grants)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _needed_by_the_code() -> Grants:
    needed: Grants = defaultdict(set)
    by_kind = {kind: resource for (_, kind), resource in RESOURCES.items()}
    for kind in APPLY_ORDER:  # apply_objects: GET, then server-side apply (PATCH; creating needs create too)
        resource = by_kind[kind]
        needed[(_group(resource.api_version), resource.plural)] |= {"get", "create", "patch"}
    for group, _version, plural in WATCHED:  # kopf.on.event drift repair: list + watch
        needed[(group, plural)] |= {"list", "watch"}
    for plural in ("deliveryplatforms", "droneservices"):
        needed[(GROUP, plural)] |= {"list", "watch", "patch"}  # kopf handlers: watch, annotations, finalizers
        needed[(GROUP, f"{plural}/status")] |= {"patch"}  # status.py: merge-patch of the status subresource
    needed[("", "events")] |= {"create"}  # kopf.info / kopf.warn, cluster_events.post
    needed[("", "secrets")] |= {"create"}  # dev_secrets.ensure: created once, never read
    needed[("apiextensions.k8s.io", "customresourcedefinitions")] |= {"list", "watch"}  # kopf resource discovery
    return dict(needed)


def test_the_operator_role_is_exactly_what_the_code_uses() -> None:
    granted, needed = _grants(ROLES[OPERATOR]["rules"]), _needed_by_the_code()
    missing = {key: verbs - granted.get(key, set()) for key, verbs in needed.items() if verbs - granted.get(key, set())}
    extra = {key: verbs - needed.get(key, set()) for key, verbs in granted.items() if verbs - needed.get(key, set())}
    assert missing == {}, f"the operator would be refused: {missing}"
    assert extra == {}, f"granted but unused by the code: {extra}"


def test_the_team_grants_role_holds_exactly_what_the_operator_grants_teams() -> None:
    """RBAC escalation prevention: a Role can only be created, and bound, with rules its creator holds."""
    assert _grants(ROLES[TEAM_GRANTS]["rules"]) == _grants(ROLE_RULES)


@pytest.mark.parametrize("role", [OPERATOR, TEAM_GRANTS])
def test_no_wildcards_no_secret_reads_no_privilege_verbs(role: str) -> None:
    for rule in ROLES[role]["rules"]:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        assert not {"clusterroles", "clusterrolebindings", "pods/exec"} & set(rule["resources"]), rule
        if "secrets" in rule["resources"]:
            # Development Secrets are generated and created once; no Secret is ever read, listed or watched.
            assert (role, rule["resources"], rule["verbs"]) == (OPERATOR, ["secrets"], ["create"]), rule
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), rule
        assert "nonResourceURLs" not in rule
        assert "resourceNames" not in rule


def test_both_roles_are_bound_to_the_chart_service_account_only() -> None:
    bindings = [doc for doc in yaml.safe_load_all((RBAC / "role_binding.yaml").read_text()) if doc]
    [account] = [doc for doc in yaml.safe_load_all((RBAC / "service_account.yaml").read_text()) if doc]
    assert {b["roleRef"]["name"] for b in bindings} == set(ROLES)
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "ClusterRole"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "fabrikam-system"}
        ]


def test_the_crd_copies_are_identical_to_crds() -> None:
    source = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    assert source
    for folder in ("charts/operator/crds", "config/crd"):
        copy = {p.name: p.read_bytes() for p in (ROOT / folder).glob("*.yaml") if p.name != "kustomization.yaml"}
        assert copy == source, f"{folder}/ differs from crds/: run `make crds`"

"""The seed's cluster as it runs today (tests/fixtures/seed-cluster, see its README): the audit finds each problem
of the seed's list that manifests show, on the object that carries it, and nothing else."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fabrikam.cli.audit.checks import audit
from fabrikam.cli.audit.rules import RULES

# Every Deployment of the seed: in default, root, not hardened, no NetworkPolicy, no PDB, no workload identity.
_EVERY_SERVICE = {
    "default-namespace",
    "runs-as-root",
    "pod-security",
    "no-network-policy",
    "no-pdb",
    "no-workload-identity",
}
# Probes: liveness on 4 services, readiness on 6, startup on none.
_LIVENESS_AND_READINESS = {"missing-startup-probe"}
_READINESS_ONLY = {"missing-startup-probe", "missing-liveness-probe"}
_NO_PROBES = {"missing-startup-probe", "missing-liveness-probe", "missing-readiness-probe"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("Deployment", "ingestion"): _EVERY_SERVICE
    | _LIVENESS_AND_READINESS
    | {"missing-limits", "secret-env-from-secret", "image-latest"},
    ("Deployment", "workflow"): _EVERY_SERVICE
    | _LIVENESS_AND_READINESS
    | {"missing-limits", "secret-env-from-secret", "image-not-pinned"},
    ("Deployment", "delivery"): _EVERY_SERVICE
    | _LIVENESS_AND_READINESS
    | {"missing-limits", "liveness-checks-dependencies", "no-hpa", "image-not-pinned"},
    ("Deployment", "drone-scheduler"): _EVERY_SERVICE
    | _READINESS_ONLY
    | {"privileged", "added-capabilities", "host-path", "no-hpa", "deprecated-api", "image-latest"},
    ("Deployment", "package"): _EVERY_SERVICE
    | _NO_PROBES
    | {"missing-requests", "missing-limits", "no-hpa", "secret-in-env", "image-not-pinned"},
    ("Deployment", "notification"): _EVERY_SERVICE
    | _NO_PROBES
    | {"missing-limits", "no-hpa", "secret-in-env", "secret-env-from-secret", "image-not-pinned", "no-telemetry"},
    ("Deployment", "account"): _EVERY_SERVICE
    | _LIVENESS_AND_READINESS
    | {
        "missing-limits",
        "liveness-checks-dependencies",
        "no-hpa",
        "secret-env-from-secret",
        "image-not-pinned",
        "no-telemetry",
    },
    ("Deployment", "drone-telemetry"): _EVERY_SERVICE
    | _READINESS_ONLY
    | {"host-namespaces", "no-hpa", "image-not-pinned", "spot-placement", "no-telemetry"},
    ("CronJob", "delivery-report"): {
        "default-namespace",
        "runs-as-root",
        "pod-security",
        "no-network-policy",
        "missing-requests",
        "missing-limits",
        "secret-env-from-secret",
        "image-latest",
        "spot-placement",
    },
    ("HorizontalPodAutoscaler", "workflow"): {"deprecated-api"},
    ("Namespace", "default"): {"no-default-deny", "no-resource-quota", "no-limit-range"},
    ("ConfigMap", "account-config"): {"secret-in-configmap"},
    ("ConfigMap", "delivery-config"): {"secret-in-configmap"},
    ("Secret", "sendgrid"): {"third-party-key-in-secret"},
    ("Secret", "servicebus-connection"): {"shared-secret-in-secret"},
    ("Secret", "service-auth"): {"shared-secret-in-secret"},
    ("ClusterRoleBinding", "fabrikam-developers-cluster-admin"): {"cluster-admin-binding"},
    ("Service", "ingestion"): {"load-balancer-service"},
    ("Service", "drone-telemetry"): {"node-port-service"},
    ("Ingress", "fabrikam"): {"ingress-self-signed", "ingress-cert-not-rotated"},
    ("Ingress", "notification-webhooks"): {"ingress-no-tls"},
}
# Seen only on a live cluster: the Namespace object of `default` (manifests do not declare it) and the Nodes.
LIVE_ONLY = {"no-pod-security-admission", "spot-node-untainted"}


def _found(objects: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in audit(objects):
        found[finding.object.kind, finding.object.name].add(finding.rule)
    return dict(found)


def test_every_seed_problem_fires_on_the_object_that_carries_it(seed_objects: list[dict[str, Any]]) -> None:
    assert _found(seed_objects) == EXPECTED


def test_the_fixture_shows_every_rule_but_those_only_a_live_cluster_shows() -> None:
    shown = set().union(*EXPECTED.values())
    assert shown == {rule.id for rule in RULES} - LIVE_ONLY


def test_the_seed_runs_eight_services_in_default_and_the_audit_reads_them_all(
    seed_objects: list[dict[str, Any]],
) -> None:
    deployments = [o for o in seed_objects if o["kind"] == "Deployment"]
    assert len(deployments) == 8
    assert {o["metadata"]["namespace"] for o in seed_objects if "namespace" in o["metadata"]} == {"default"}

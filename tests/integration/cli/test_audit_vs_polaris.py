"""`fabrikam audit` against Polaris on the seed's cluster (tests/fixtures/seed-cluster): every check Polaris fails
there is covered by a finding of ours on the same object, through the table below; what we find beyond Polaris is
printed (`pytest -s`).

Polaris is built once per machine with `go install` from the Go module proxy into the fabrikam cache (or named by
$POLARIS). Its module path has no /v10 suffix, so Go takes its v10 releases by commit only. Where neither Go nor the
module can be had, the comparison is skipped, saying why; the table's own consistency is checked regardless.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from fabrikam.cli.audit.checks import audit
from fabrikam.cli.audit.rules import BY_ID
from fabrikam.cli.audit.sources import read_manifests
from fabrikam.devcluster.paths import cache_dir

SEED_CLUSTER = Path(__file__).resolve().parents[2] / "fixtures" / "seed-cluster"
POLARIS_VERSION = "v10.2.2"
POLARIS_COMMIT = "dafa0b74fc09a9505849b0a6f8c78f1c364d0112"
POLARIS_MODULE = "github.com/fairwindsops/polaris"

# Polaris check -> the rules of ours that cover the same problem on the same object.
COVERED_BY: dict[str, frozenset[str]] = {
    "tagNotSpecified": frozenset({"image-latest"}),
    # Pulling `Always` only matters while a tag can move; pinned by digest, what runs is fixed.
    "pullPolicyNotAlways": frozenset({"image-latest", "image-not-pinned"}),
    "readinessProbeMissing": frozenset({"missing-readiness-probe"}),
    "livenessProbeMissing": frozenset({"missing-liveness-probe"}),
    "missingPodDisruptionBudget": frozenset({"no-pdb"}),
    "deploymentMissingReplicas": frozenset({"no-hpa"}),
    "cpuRequestsMissing": frozenset({"missing-requests"}),
    "memoryRequestsMissing": frozenset({"missing-requests"}),
    "cpuLimitsMissing": frozenset({"missing-limits"}),
    "memoryLimitsMissing": frozenset({"missing-limits"}),
    "automountServiceAccountToken": frozenset({"pod-security"}),
    "linuxHardening": frozenset({"pod-security"}),
    "notReadOnlyRootFilesystem": frozenset({"pod-security"}),
    "procMount": frozenset({"pod-security"}),
    "privilegeEscalationAllowed": frozenset({"pod-security", "privileged"}),
    "insecureCapabilities": frozenset({"pod-security", "added-capabilities"}),
    "dangerousCapabilities": frozenset({"added-capabilities"}),
    "runAsRootAllowed": frozenset({"runs-as-root"}),
    "runAsPrivileged": frozenset({"privileged"}),
    "hostIPCSet": frozenset({"host-namespaces"}),
    "hostPIDSet": frozenset({"host-namespaces"}),
    "hostNetworkSet": frozenset({"host-namespaces"}),
    "hostPortSet": frozenset({"host-namespaces"}),
    "hostPathSet": frozenset({"host-path"}),
    "missingNetworkPolicy": frozenset({"no-network-policy"}),
    "tlsSettingsMissing": frozenset({"ingress-no-tls"}),
    "sensitiveContainerEnvVar": frozenset({"secret-in-env"}),
    "sensitiveConfigmapContent": frozenset({"secret-in-configmap"}),
    "clusterrolebindingClusterAdmin": frozenset({"cluster-admin-binding"}),
    "rolebindingClusterAdminClusterRole": frozenset({"cluster-admin-binding"}),
    "rolebindingClusterAdminRole": frozenset({"cluster-admin-binding"}),
    "clusterrolebindingPodExecAttach": frozenset({"cluster-admin-binding"}),
    "rolebindingClusterRolePodExecAttach": frozenset({"cluster-admin-binding"}),
}
# Polaris checks that are no problem of the seed's list, and why.
NOT_THE_SEEDS = {
    "metadataAndInstanceMismatched": "a label convention (instance = object name); Helm sets the release name",
    "priorityClassNotSet": "not in the seed's list",
    "topologySpreadConstraint": "not in the seed's list (the operator spreads every DroneService over zones anyway)",
    "hpaMinAvailability": "the seed's HPAs keep 2 or more (a DroneService's autoscaling.minReplicas is at least 2)",
    "hpaMaxAvailability": "the seed's HPAs can scale (min below max)",
    "pdbDisruptionsIsZero": "the seed has no PodDisruptionBudget at all (no-pdb)",
    "pdbMinAvailableGreaterThanHPAMinReplicas": "the seed has no PodDisruptionBudget at all (no-pdb)",
    "hostProcess": "Windows HostProcess containers: the seed's node pools are Linux",
    "clusterrolePodExecAttach": "exec rights of a custom role: the seed's teams have cluster-admin itself",
    "rolePodExecAttach": "exec rights of a custom role: the seed's teams have cluster-admin itself",
    "rolebindingRolePodExecAttach": "exec rights of a custom role: the seed's teams have cluster-admin itself",
}


def polaris_failures(output: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(kind, name) -> the checks Polaris failed on it, from its object, pod and container results."""
    failed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for result in output.get("Results") or []:
        sets = [result.get("Results") or {}]
        pod = result.get("PodResult") or {}
        sets.append(pod.get("Results") or {})
        sets += [c.get("Results") or {} for c in pod.get("ContainerResults") or []]
        for checks in sets:
            for check, outcome in checks.items():
                if not outcome.get("Success", True) and outcome.get("Severity") != "ignore":
                    failed[result["Kind"], result["Name"]].add(check)
    return failed


def uncovered(polaris: dict[tuple[str, str], set[str]], ours: dict[tuple[str, str], set[str]]) -> list[str]:
    """Every Polaris failure that no finding of ours on the same object covers, or that the table does not know."""
    missing = []
    for obj, checks in sorted(polaris.items()):
        for check in sorted(checks - NOT_THE_SEEDS.keys()):
            if check not in COVERED_BY:
                missing.append(f"{obj}: Polaris check {check} is not in the table")
            elif not COVERED_BY[check] & ours.get(obj, set()):
                missing.append(f"{obj}: Polaris {check}, none of {sorted(COVERED_BY[check])} fired")
    return missing


def our_findings() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in audit(read_manifests([str(SEED_CLUSTER)]).objects):
        found[finding.object.kind, finding.object.name].add(finding.rule)
    return found


def polaris_binary() -> Path:
    named = os.environ.get("POLARIS")
    if named:
        return Path(named)
    target = cache_dir() / "bin" / f"polaris-{POLARIS_VERSION}"
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain to build Polaris with")
    with tempfile.TemporaryDirectory(prefix="polaris-") as gobin:
        env = {**os.environ, "GOBIN": gobin, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        build = subprocess.run(
            [go, "install", f"{POLARIS_MODULE}@{POLARIS_COMMIT}"], env=env, capture_output=True, text=True, timeout=1500
        )
        if build.returncode != 0:
            reason = " ".join(line.strip() for line in build.stderr.strip().splitlines()[-2:]) or "no output"
            pytest.skip(f"Polaris {POLARIS_VERSION} cannot be built from the Go module proxy here: {reason}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(gobin) / "polaris"), target)
    return target


def test_every_polaris_failure_on_the_seed_cluster_is_covered_by_a_finding_on_the_same_object() -> None:
    run = subprocess.run(
        [str(polaris_binary()), "audit", "--audit-path", str(SEED_CLUSTER), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    polaris = polaris_failures(json.loads(run.stdout))
    assert polaris, "Polaris reported no failure on the seed's cluster: did it read the fixture?"
    ours = our_findings()
    assert uncovered(polaris, ours) == []

    seen_by_polaris = {obj: set().union(*(COVERED_BY.get(c, set()) for c in checks)) for obj, checks in polaris.items()}
    beyond = sorted(
        (obj, rule) for obj, rules in ours.items() for rule in rules if rule not in seen_by_polaris.get(obj, set())
    )
    print(f"\nPolaris {POLARIS_VERSION}: {sum(map(len, polaris.values()))} failures on {len(polaris)} objects")
    print(f"fabrikam audit beyond Polaris, {len(beyond)} findings:")
    for (kind, name), rule in beyond:
        print(f"  {rule:<30} {kind} {name}")
    beyond_rules = {rule for _, rule in beyond}
    assert {"liveness-checks-dependencies", "deprecated-api", "load-balancer-service", "no-hpa"} <= beyond_rules


def test_the_table_names_only_rules_that_exist_and_sorts_each_check_once() -> None:
    assert all(rule in BY_ID for rules in COVERED_BY.values() for rule in rules)
    assert not COVERED_BY.keys() & NOT_THE_SEEDS.keys()


def test_the_comparison_flags_an_uncovered_or_unknown_polaris_failure() -> None:
    output = {
        "Results": [
            {
                "Kind": "Deployment",
                "Name": "package",
                "Results": {},
                "PodResult": {
                    "Results": {"hostPIDSet": {"Success": False, "Severity": "danger"}},
                    "ContainerResults": [
                        {
                            "Name": "package",
                            "Results": {
                                "livenessProbeMissing": {"Success": False, "Severity": "warning"},
                                "priorityClassNotSet": {"Success": False, "Severity": "warning"},
                                "someNewCheck": {"Success": False, "Severity": "warning"},
                                "tagNotSpecified": {"Success": True, "Severity": "danger"},
                            },
                        }
                    ],
                },
            }
        ]
    }
    polaris = polaris_failures(output)
    assert polaris == {
        ("Deployment", "package"): {"hostPIDSet", "livenessProbeMissing", "priorityClassNotSet", "someNewCheck"}
    }
    assert uncovered(polaris, our_findings()) == [
        "('Deployment', 'package'): Polaris hostPIDSet, none of ['host-namespaces'] fired",
        "('Deployment', 'package'): Polaris check someNewCheck is not in the table",
    ]

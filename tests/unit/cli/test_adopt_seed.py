"""The seed's cluster (tests/fixtures/seed-cluster: eight services of one Helm release in `default`) adopted by
three teams into the production sample platform: eight DroneServices, the notes its known problems call for, no
secret copied, and `fabrikam render` of the result without an audit finding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.cli.adopt import Adoption, adopt
from fabrikam.cli.adopt.sources import read_manifests
from fabrikam.operator.render.documents import render_documents

ROOT = Path(__file__).resolve().parents[3]
SEED = ROOT / "tests" / "fixtures" / "seed-cluster"
TEAMS = {
    "ingestion": "shipping",
    "workflow": "shipping",
    "delivery": "shipping",
    "drone-scheduler": "fleet",
    "drone-telemetry": "fleet",
    "package": "customer",
    "notification": "customer",
    "account": "customer",
}

pytestmark = pytest.mark.skipif(not SEED.is_dir(), reason="tests/fixtures/seed-cluster is not there")


@pytest.fixture(scope="module")
def seed() -> list[dict[str, Any]]:
    return read_manifests([str(SEED)])


@pytest.fixture(scope="module")
def adoption(seed: list[dict[str, Any]]) -> Adoption:
    platform = yaml.safe_load((ROOT / "config" / "samples" / "platform.yaml").read_text())
    return adopt(seed, team_of=TEAMS, platform=platform)


def _spec(adoption: Adoption, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = next(s["spec"] for s in adoption.services if s["metadata"]["name"] == name)
    return spec


def _notes(adoption: Adoption, workload: str) -> dict[str, str]:
    """The notes of one Deployment by field, several of one field joined by newlines."""
    found: dict[str, str] = {}
    for note in adoption.notes:
        if note.workload == f"default/{workload}":
            found[note.field] = f"{found[note.field]}\n{note.message}" if note.field in found else note.message
    return found


def test_eight_services_in_three_team_namespaces(adoption: Adoption) -> None:
    placed = {s["metadata"]["name"]: s["metadata"]["namespace"] for s in adoption.services}
    assert placed == {name: f"fabrikam-{team}" for name, team in TEAMS.items()}


def test_the_known_problems_are_noted(adoption: Adoption) -> None:
    assert _notes(adoption, "delivery")["livenessProbe"].startswith("checked a dependency (GET /health/redis")
    assert _notes(adoption, "account")["livenessProbe"].startswith("checked a dependency (exec `/bin/sh -c sqlcmd")
    package = _notes(adoption, "package")
    assert package["readinessProbe"].startswith("none:")
    assert package["livenessProbe"].startswith("none:")
    assert package["resources"].startswith("none set: filled from the platform's defaults")
    assert "rotate it" in package["env MONGODB_URI"]
    assert "rotate it" in _notes(adoption, "notification")["env TWILIO_AUTH_TOKEN"]
    assert _notes(adoption, "account")["env ConnectionStrings__AccountDb"].startswith("ConfigMap account-config key")
    assert _notes(adoption, "drone-scheduler")["securityContext"].startswith(
        "ran privileged, with capabilities SYS_PTRACE"
    )
    assert "hostPath" in _notes(adoption, "drone-scheduler")["volume node-logs"]
    assert "on the host's network" in _notes(adoption, "drone-telemetry")["securityContext"]
    assert "NodePort" in _notes(adoption, "drone-telemetry")["Service drone-telemetry"]
    assert "raise maxReplicas" in _notes(adoption, "delivery")["replicas"]
    assert "no plain variable names its queue" in _notes(adoption, "ingestion")["env SERVICEBUS_CONNECTION_STRING"]
    assert any(n.workload == "default/delivery-report" and n.field == "CronJob" for n in adoption.notes)
    assert all("placeholder of zeros" in _notes(adoption, name)["image"] for name in TEAMS)


def test_what_they_run_is_carried_over(adoption: Adoption) -> None:
    assert _spec(adoption, "ingestion")["autoscaling"] == {
        "minReplicas": 2,
        "maxReplicas": 10,
        "targetCpuUtilizationPercentage": 70,
    }
    assert _spec(adoption, "workflow")["autoscaling"]["maxReplicas"] == 15
    assert _spec(adoption, "delivery")["autoscaling"] == {
        "minReplicas": 5,
        "maxReplicas": 5,
        "targetCpuUtilizationPercentage": 70,
    }
    assert _spec(adoption, "ingestion")["expose"] == {"path": "/api/deliveries"}
    assert _spec(adoption, "package")["expose"] == {"path": "/api/packages"}
    assert _spec(adoption, "notification")["expose"] == {"path": "/webhooks/payments"}
    assert _spec(adoption, "drone-telemetry")["placement"] == {"interruptible": True}
    workflow = _spec(adoption, "workflow")
    assert workflow["calls"] == [
        {"name": "package", "namespace": "fabrikam-customer"},
        {"name": "drone-scheduler", "namespace": "fabrikam-fleet"},
        {"name": "delivery"},
    ]
    assert {"kind": "queue", "name": "delivery-requests"} in workflow["uses"]
    assert {"kind": "external", "name": "westus2-2.in.applicationinsights.azure.com"} in workflow["uses"]
    assert _spec(adoption, "package")["allowedCallers"] == [{"namespace": "fabrikam-shipping", "name": "workflow"}]


def test_no_secret_of_the_seed_is_written(seed: list[dict[str, Any]], adoption: Adoption) -> None:
    raw = [d for path in sorted(SEED.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]
    values = {value for d in raw if d["kind"] == "Secret" for value in (d.get("stringData") or {}).values()}
    values |= {"fixture-not-a-real-password", "fixture-not-a-real-token"}
    written = yaml.safe_dump_all([*adoption.services, adoption.platform_patch, adoption.platform]) + "".join(
        map(str, adoption.notes)
    )
    assert values
    for value in values:
        assert value not in written


def test_the_rendered_adoption_has_no_audit_finding(seed: list[dict[str, Any]], adoption: Adoption) -> None:
    checks = pytest.importorskip("fabrikam.cli.audit.checks")
    assert checks.audit(seed), "the seed itself has findings"
    rendered = render_documents([adoption.platform, *adoption.services])
    assert not rendered.fatal
    assert [str(finding) for finding in checks.audit(rendered.objects)] == []


def test_without_a_mapping_the_one_helm_release_is_one_team(seed: list[dict[str, Any]]) -> None:
    adoption = adopt(seed)
    assert [(team["name"], team["namespace"]) for team in adoption.teams] == [("fabrikam", "fabrikam")]
    assert len(adoption.services) == 8

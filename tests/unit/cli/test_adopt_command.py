"""`fabrikam adopt` as a user runs it on manifests: the files it writes, the notes it prints, the options, and
`fabrikam render` of what it wrote."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from fabrikam.cli.adopt.command import adopt_command
from fabrikam.cli.main import app as main_app
from fabrikam.operator.api import DeliveryPlatform, DroneService

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"
TOKEN = "tok-9f8e7d6c5b4a-never-copy-me"
PASSWORD = "pa55-w0rd-in-a-config-map"
MANIFESTS = f"""
# Source: fleet/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: drone-scheduler
  labels: {{app.kubernetes.io/instance: fleet}}
spec:
  replicas: 2
  template:
    metadata: {{labels: {{app: drone-scheduler}}}}
    spec:
      containers:
        - name: drone-scheduler
          image: fabrikam.azurecr.io/drone-scheduler@sha256:{"5" * 64}
          ports: [{{containerPort: 8080}}]
          envFrom: [{{configMapRef: {{name: scheduler}}}}]
          env:
            - name: API_TOKEN
              valueFrom: {{secretKeyRef: {{name: scheduler, key: token}}}}
---
# Source: fleet/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata: {{name: scheduler}}
data: {{token: {base64.b64encode(TOKEN.encode()).decode()}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: scheduler}}
data: {{DB_PASSWORD: {PASSWORD}, FLEET_SIZE: "40"}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: drone-telemetry
  labels: {{app.kubernetes.io/instance: fleet}}
spec:
  template:
    metadata: {{labels: {{app: drone-telemetry}}}}
    spec:
      containers:
        - name: drone-telemetry
          image: fabrikam.azurecr.io/drone-telemetry:2.0
          ports: [{{containerPort: 8080}}]
"""

adopt_app = typer.Typer()
adopt_app.command()(adopt_command)
runner = CliRunner()


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = tmp_path / "helm-template.yaml"
    path.write_text(MANIFESTS)
    return path


def _written(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*.yaml"))}


def test_it_writes_a_file_per_service_in_a_folder_per_team_and_the_team_mapping(
    manifests: Path, tmp_path: Path
) -> None:
    out = tmp_path / "adopted"
    result = runner.invoke(adopt_app, [str(manifests), "--no-resolve-digests", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(_written(out)) == ["fleet/drone-scheduler.yaml", "fleet/drone-telemetry.yaml", "platform-teams.yaml"]
    scheduler = yaml.safe_load((out / "fleet" / "drone-scheduler.yaml").read_text())
    assert DroneService.model_validate(scheduler).namespace == "fabrikam-fleet"
    assert (
        (out / "fleet" / "drone-scheduler.yaml")
        .read_text()
        .startswith("# DroneService adopted from Deployment default/drone-scheduler by `fabrikam adopt`.\n")
    )
    patch = yaml.safe_load((out / "platform-teams.yaml").read_text())
    assert [team["name"] for team in patch["spec"]["teams"]] == ["fleet"]


def test_it_prints_the_notes_as_a_table(manifests: Path, tmp_path: Path) -> None:
    result = runner.invoke(adopt_app, [str(manifests), "--no-resolve-digests", "-o", str(tmp_path / "out")])
    assert "What changed on the way" in result.stdout
    assert "default/drone-telemetry" in result.stdout
    assert "2 DroneServices in 1 team" in result.stderr


def test_no_secret_value_is_written_or_printed(manifests: Path, tmp_path: Path) -> None:
    out = tmp_path / "adopted"
    result = runner.invoke(adopt_app, [str(manifests), "--no-resolve-digests", "-o", str(out)])
    everything = "".join(_written(out).values()) + result.output
    for value in (TOKEN, PASSWORD, base64.b64encode(TOKEN.encode()).decode()):
        assert value not in everything
    assert "kubectl get secret scheduler -n default" in everything


def test_stdin_and_the_namespace_of_helm_template_output(manifests: Path, tmp_path: Path) -> None:
    out = tmp_path / "adopted"
    result = runner.invoke(
        adopt_app, ["-", "-n", "fabrikam-old", "--no-resolve-digests", "-o", str(out)], input=manifests.read_text()
    )
    assert result.exit_code == 0, result.output
    scheduler = yaml.safe_load((out / "fleet" / "drone-scheduler.yaml").read_text())
    assert scheduler["metadata"]["annotations"]["dronedelivery.fabrikam.io/adopted-from"] == (
        "Deployment fabrikam-old/drone-scheduler"
    )


def test_team_options(manifests: Path, tmp_path: Path) -> None:
    one = runner.invoke(
        adopt_app, [str(manifests), "--team", "Fleet Ops", "--no-resolve-digests", "-o", str(tmp_path / "a")]
    )
    assert one.exit_code == 0, one.output
    assert (tmp_path / "a" / "fleet-ops" / "drone-telemetry.yaml").exists()
    split = runner.invoke(
        adopt_app,
        [str(manifests), "--team-of", "drone-telemetry=telemetry", "--no-resolve-digests", "-o", str(tmp_path / "b")],
    )
    assert split.exit_code == 0, split.output
    assert (tmp_path / "b" / "telemetry" / "drone-telemetry.yaml").exists()
    assert (tmp_path / "b" / "fleet" / "drone-scheduler.yaml").exists()


@pytest.mark.parametrize(
    "options", [["--team", "a", "--team-of", "x=b"], ["--team-of", "no-equals-sign"], ["--team-of", "=team"]]
)
def test_bad_team_options_are_refused(manifests: Path, tmp_path: Path, options: list[str]) -> None:
    result = runner.invoke(adopt_app, [str(manifests), *options, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2


def test_a_platform_file_is_merged_and_written(manifests: Path, tmp_path: Path) -> None:
    out = tmp_path / "adopted"
    platform = SAMPLES / "platform.yaml"
    result = runner.invoke(
        adopt_app, [str(manifests), "--platform-file", str(platform), "--no-resolve-digests", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    merged = DeliveryPlatform.model_validate(yaml.safe_load((out / "platform.yaml").read_text()))
    fleet = next(team for team in merged.spec.teams if team.name == "fleet")
    assert fleet.namespace == "fabrikam-fleet"
    assert merged.spec.services.drone_scheduler.enabled is False
    assert "kv-fabrikam-prod" in (out / "fleet" / "drone-scheduler.yaml").read_text()


def test_fabrikam_render_accepts_what_adopt_wrote(manifests: Path, tmp_path: Path) -> None:
    out = tmp_path / "adopted"
    runner.invoke(
        adopt_app,
        [str(manifests), "--platform-file", str(SAMPLES / "platform.yaml"), "-o", str(out), "--no-resolve-digests"],
    )
    files = ["platform.yaml", "fleet/drone-scheduler.yaml", "fleet/drone-telemetry.yaml"]
    result = runner.invoke(main_app, ["render", *(arg for f in files for arg in ("-f", str(out / f)))])
    assert result.exit_code == 0, result.output
    deployments = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in yaml.safe_load_all(result.stdout)
        if o["kind"] == "Deployment"
    }
    assert {("fabrikam-fleet", "drone-scheduler"), ("fabrikam-fleet", "drone-telemetry")} <= deployments
    assert ("fabrikam-fleet", "drone-scheduler") in deployments


def test_an_unreadable_source_or_invalid_platform_fails_with_the_reason(manifests: Path, tmp_path: Path) -> None:
    missing = runner.invoke(adopt_app, [str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "out")])
    assert missing.exit_code == 1
    assert "nope.yaml" in missing.stderr
    bad = tmp_path / "platform.yaml"
    bad.write_text(
        "apiVersion: dronedelivery.fabrikam.io/v1alpha1\nkind: DeliveryPlatform\nmetadata: {name: x}\nspec: {}\n"
    )
    invalid = runner.invoke(adopt_app, [str(manifests), "--platform-file", str(bad), "-o", str(tmp_path / "out")])
    assert invalid.exit_code == 1
    assert "spec.image" in invalid.stderr

"""`fabrikam render` and `fabrikam crds`, as reviewers and `make crds` use them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml
from typer.testing import CliRunner

from fabrikam.cli.main import app
from fabrikam.operator.api.crd import generated_files

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"
runner = CliRunner()


def test_render_prints_every_object_of_the_platform_and_the_team_service() -> None:
    result = runner.invoke(
        app, ["render", "-f", str(SAMPLES / "platform.yaml"), "-f", str(SAMPLES / "team-service.yaml")]
    )
    assert result.exit_code == 0, result.output
    objects = list(yaml.safe_load_all(result.stdout))
    kinds = Counter(o["kind"] for o in objects)
    assert kinds["Namespace"] == 3
    assert kinds["DroneService"] == 8
    assert kinds["Deployment"] == 9
    assert kinds["HorizontalPodAutoscaler"] == kinds["PodDisruptionBudget"] == 9
    assert all(o["metadata"].get("namespace") != "default" for o in objects)


def test_render_reports_invalid_fields_and_exits_non_zero(tmp_path: Path) -> None:
    doc = yaml.safe_load((SAMPLES / "team-service.yaml").read_text())
    doc["spec"]["autoscaling"] = {"minReplicas": 1, "maxReplicas": 4}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["render", "-f", str(bad)])
    assert result.exit_code == 1
    assert "DroneService fabrikam-shipping/delivery-analytics: spec.autoscaling.minReplicas:" in result.stderr


def test_render_fails_when_the_platform_is_missing() -> None:
    result = runner.invoke(app, ["render", "-f", str(SAMPLES / "team-service.yaml")])
    assert result.exit_code == 1
    assert "spec.platformRef.name: DeliveryPlatform 'fabrikam' does not exist (PlatformNotFound)" in result.stderr


def test_render_reports_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "-f", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml" in result.stderr


def test_crds_prints_the_generated_crds() -> None:
    result = runner.invoke(app, ["crds"])
    assert result.exit_code == 0
    assert result.stdout == "".join(generated_files().values())


def test_crds_write_fills_both_folders(tmp_path: Path) -> None:
    result = runner.invoke(app, ["crds", "--write", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for folder in ("crds", "charts/operator/crds"):
        written = {p.name: p.read_text() for p in (tmp_path / folder).iterdir()}
        assert written == generated_files()

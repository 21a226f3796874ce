"""`fabrikam render` and `fabrikam crds`, as reviewers and `make crds` use them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fabrikam.cli.main import app
from fabrikam.operator.api.crd import generated_files

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"
PLATFORM_AND_TEAM_SERVICE = ("-f", str(SAMPLES / "platform.yaml"), "-f", str(SAMPLES / "team-service.yaml"))
AZURE_PLATFORM = ("-f", str(SAMPLES / "platform-azure.yaml"))
PROMETHEUS_OPERATOR = "monitoring.coreos.com/"
runner = CliRunner()


def _render(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["render", *args])
    assert result.exit_code == 0, result.output
    return list(yaml.safe_load_all(result.stdout))


def _named(objects: list[dict[str, Any]], kind: str) -> set[tuple[str, str]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == kind}


def _on_call(obj: dict[str, Any]) -> bool:
    return obj["metadata"]["name"] in ("fabrikam-oncall", "fabrikam-oncall-keys")


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


def test_render_prints_what_watches_each_service_as_the_operator_applies_it_with_the_monitoring_crds() -> None:
    objects = _render(*PLATFORM_AND_TEAM_SERVICE)
    services = _named(objects, "Deployment")
    assert len(services) == 9  # the eight bundled services and the shipping team's own
    assert _named(objects, "PodMonitor") == services
    assert _named(objects, "PrometheusRule") == {(namespace, f"{name}-slo") for namespace, name in services}
    dashboards = [o for o in objects if o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert _named(dashboards, "ConfigMap") == {(namespace, f"{name}-dashboard") for namespace, name in services} | {
        ("fabrikam-shipping", "fabrikam-platform-dashboard")
    }
    [rule] = [o for o in objects if o["kind"] == "PrometheusRule" and o["metadata"]["name"] == "delivery-analytics-slo"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # spec.observability.prometheusLabels
    assert any("> (14.4 * 0.005)" in r.get("expr", "") for r in rule["spec"]["groups"][0]["rules"])  # target 99.5


def test_render_prints_each_team_namespaces_on_call_routing_and_the_pod_holding_its_key() -> None:
    objects = _render(*AZURE_PLATFORM)
    teams = {"fabrikam-shipping", "fabrikam-customer"}
    assert _named(objects, "AlertmanagerConfig") == {(team, "fabrikam-oncall") for team in teams}
    assert {(team, "fabrikam-oncall") for team in teams} <= _named(objects, "SecretProviderClass")
    assert {(team, "fabrikam-oncall-keys") for team in teams} <= _named(objects, "Deployment")
    [provider, *_] = [o for o in objects if o["kind"] == "SecretProviderClass" and _on_call(o)]
    assert provider["spec"]["parameters"]["clientID"] == "6b1d3f5a-7c9e-4b2d-8f4a-1c3e5a7b9d0f"  # onCall's identity


@pytest.mark.parametrize("sample", [PLATFORM_AND_TEAM_SERVICE, AZURE_PLATFORM], ids=["platform", "azure-platform"])
def test_without_the_monitoring_crds_render_leaves_out_their_kinds_and_the_on_call_key_holders_only(
    sample: tuple[str, ...],
) -> None:
    """The dashboards are ConfigMaps: they stay. The on-call key's holders serve only the AlertmanagerConfig."""
    with_crds = _render(*sample)
    without = _render("--without-monitoring-crds", *sample)
    assert not any(o["apiVersion"].startswith(PROMETHEUS_OPERATOR) or _on_call(o) for o in without)
    assert without == [o for o in with_crds if not (o["apiVersion"].startswith(PROMETHEUS_OPERATOR) or _on_call(o))]
    assert len(with_crds) > len(without)


def test_what_render_prints_passes_the_audit_without_a_finding() -> None:
    rendered = runner.invoke(app, ["render", *PLATFORM_AND_TEAM_SERVICE])
    audited = runner.invoke(app, ["audit", "-", "-o", "json"], input=rendered.stdout)
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.stdout)
    assert report["findings"] == []
    kinds = Counter(o["kind"] for o in yaml.safe_load_all(rendered.stdout))
    assert report["summary"]["objects"] == sum(kinds.values())
    assert kinds["PodMonitor"] == kinds["PrometheusRule"] == 9


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

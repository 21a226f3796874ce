"""`fabrikam audit` as CI runs it: the output chosen, exit 1 at or above `--fail-on`, exit 2 on input it cannot
audit, with a message naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fabrikam.cli.main import app

SEED_CLUSTER = Path(__file__).resolve().parents[2] / "fixtures" / "seed-cluster"
GOOD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team\ndata:\n  MODE: fast\n"
runner = CliRunner()


@pytest.mark.parametrize(
    ("threshold", "code"),
    [(None, 0), ("critical", 1), ("high", 1), ("low", 1)],
)
def test_fail_on_exits_1_when_a_finding_reaches_the_threshold(threshold: str | None, code: int) -> None:
    options = ["--fail-on", threshold] if threshold else []
    result = runner.invoke(app, ["audit", str(SEED_CLUSTER), "-o", "json", *options])
    assert result.exit_code == code, result.output


def test_fail_on_counts_only_findings_at_or_above_it(tmp_path: Path) -> None:
    (tmp_path / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: team\nspec:\n  type: NodePort\n"
    )
    assert runner.invoke(app, ["audit", str(tmp_path), "--fail-on", "high"]).exit_code == 0
    assert runner.invoke(app, ["audit", str(tmp_path), "--fail-on", "medium"]).exit_code == 1


def test_a_clean_input_exits_0_even_with_fail_on_low(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(GOOD)
    result = runner.invoke(app, ["audit", str(tmp_path), "--fail-on", "low", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []


def test_sarif_goes_to_stdout() -> None:
    result = runner.invoke(app, ["audit", str(SEED_CLUSTER), "-o", "sarif"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == "2.1.0"


def test_helm_template_output_is_read_from_stdin() -> None:
    rendered = "---\n# Source: chart/templates/svc.yaml\n" + (SEED_CLUSTER / "ingestion.yaml").read_text()
    result = runner.invoke(app, ["audit", "-", "-o", "json"], input=rendered)
    assert result.exit_code == 0, result.output
    paths = {f["location"]["path"] for f in json.loads(result.stdout)["findings"]}
    assert "fabrikam/charts/ingestion/templates/deployment.yaml" in paths


def test_the_table_is_the_default_output() -> None:
    result = runner.invoke(app, ["audit", str(SEED_CLUSTER)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Deployment default/drone-scheduler" in result.stdout
    assert "findings on 21 of 29 objects" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind: [", "bad.yaml: document 1: not valid YAML"),
        ("- just\n- a list\n", "bad.yaml: document 1 (line 1): not a Kubernetes object"),
    ],
)
def test_bad_input_exits_2_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    result = runner.invoke(app, ["audit", str(tmp_path / "bad.yaml")])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


def test_manifests_and_a_kubeconfig_together_exit_2(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(GOOD)
    result = runner.invoke(app, ["audit", str(tmp_path), "--kubeconfig", str(tmp_path / "kubeconfig")])
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_an_unreadable_kubeconfig_exits_2(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    result = runner.invoke(app, ["audit", "--kubeconfig", str(tmp_path / "kubeconfig")])
    assert result.exit_code == 2
    assert "kubeconfig" in result.stderr


def test_an_unreachable_api_server_exits_2(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    result = runner.invoke(app, ["audit", "--kubeconfig", str(tmp_path / "kubeconfig")])
    assert result.exit_code == 2, result.output
    assert "cannot reach the API server at https://127.0.0.1:9" in " ".join(result.stderr.split())

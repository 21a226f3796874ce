"""The exact commands the images run, from the project's virtualenv, with the images' environment."""

import os
import subprocess
import sys
from pathlib import Path

import dockerfile
import yaml

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.render import bundled_services
from fabrikam.workloads.entrypoint import SERVICES

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
COMMANDS = dockerfile.parse_file(str(ROOT / "Dockerfile"))


def _entrypoint(target: str) -> list[str]:
    stage = None
    for command in COMMANDS:
        if command.cmd == "FROM":
            stage = command.value[-1]
        elif command.cmd == "ENTRYPOINT" and stage == target:
            return list(command.value)
    raise AssertionError(f"no ENTRYPOINT in stage {target}")


def _image_env() -> dict[str, str]:
    """The runtime stage's ENV, with the image's /opt/fabrikam/bin standing for this virtualenv's bin/."""
    env: dict[str, str] = {}
    for command in COMMANDS:
        if command.cmd == "ENV":
            values = command.value
            env |= {values[i]: values[i + 1] for i in range(0, len(values), 2)}
    env["PATH"] = env["PATH"].replace("/opt/fabrikam/bin", str(BIN)).replace("$PATH", os.environ["PATH"])
    return env


def _run(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**_image_env(), "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "COLUMNS": "200"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


def test_the_operator_entrypoint_accepts_the_arguments_the_chart_passes(tmp_path: Path) -> None:
    deployment = yaml.safe_load((ROOT / "config" / "manager" / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container, "the chart must run the image's ENTRYPOINT"
    result = _run([*_entrypoint("operator"), *container["args"], "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage: fabrikam operator run" in result.stdout
    for option in ("--kubeconfig", "--liveness", "--verbose"):
        assert option in result.stdout
    assert list(tmp_path.iterdir()) == [], "the entrypoint wrote into its working directory, HOME or TMPDIR"


def test_the_operator_entrypoint_refuses_an_unknown_option(tmp_path: Path) -> None:
    result = _run([*_entrypoint("operator"), "--no-such-option"], tmp_path)
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_the_workloads_entrypoint_offers_every_service(tmp_path: Path) -> None:
    result = _run([*_entrypoint("workloads"), "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage: fabrikam-svc" in result.stdout
    assert "{" + ",".join(sorted(SERVICES)) + "}" in result.stdout


def test_the_workloads_entrypoint_names_the_choices_for_an_unknown_service(tmp_path: Path) -> None:
    result = _run([*_entrypoint("workloads"), "no-such-service"], tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'no-such-service'" in result.stderr


def test_every_bundled_service_the_operator_renders_runs_in_the_workloads_image() -> None:
    """The operator passes the component name as the argument (found on the first real pods: `drone-scheduler`
    was not a choice, so that pod crash-looped)."""
    platform = DeliveryPlatform.model_validate(yaml.safe_load((ROOT / "config/samples/platform-dev.yaml").read_text()))
    rendered = bundled_services(platform)
    assert len(rendered) == 8
    for svc in rendered:
        assert svc.spec.command == ["fabrikam-svc"]  # the workloads image's console script
        assert svc.spec.args is not None
        assert len(svc.spec.args) == 1
        assert svc.spec.args[0] in SERVICES, svc.name

"""helm against the chart, without installing anything: template, lint and install --dry-run=client."""

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import toolchain

CHART = Path(__file__).resolve().parents[3] / "charts" / "operator"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(toolchain.expected_binaries().helm), *args], capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def template(*settings: str, namespace: str = "fabrikam-system", release: str = "fabrikam-operator") -> str:
    args = ["template", release, str(CHART), "-n", namespace]
    for setting in settings:
        args += ["--set", setting]
    return helm(*args).stdout


@pytest.fixture
def render() -> Callable[..., dict[tuple[str, str], dict[str, Any]]]:
    """The chart rendered with `--set` values, as {(kind, name): object}."""

    def rendered(*settings: str) -> dict[tuple[str, str], dict[str, Any]]:
        documents = [doc for doc in yaml.safe_load_all(template(*settings)) if doc]
        return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}

    return rendered


@pytest.fixture(scope="session")
def chart_helm() -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(helm=helm, template=template, chart=CHART)

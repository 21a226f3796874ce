"""Fixtures of the audit tests: what the operator renders from the committed samples (the good platform), and the
seed's cluster as it runs today (tests/fixtures/seed-cluster)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.cli.audit.sources import read_manifests
from fabrikam.operator.render.documents import render_documents

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "config" / "samples"
SEED_CLUSTER = ROOT / "tests" / "fixtures" / "seed-cluster"


def _rendered(*samples: str) -> list[dict[str, Any]]:
    documents = [d for name in samples for d in yaml.safe_load_all((SAMPLES / name).read_text())]
    return render_documents(documents).objects


_PRODUCTION = _rendered("platform.yaml", "team-service.yaml")
_DEVELOPMENT = _rendered("platform-dev.yaml")


@pytest.fixture
def rendered() -> list[dict[str, Any]]:
    """The production sample platform and the team's own interruptible service, as the operator applies them."""
    return copy.deepcopy(_PRODUCTION)


@pytest.fixture
def rendered_dev() -> list[dict[str, Any]]:
    """The development sample platform, with its in-cluster stores."""
    return copy.deepcopy(_DEVELOPMENT)


@pytest.fixture(scope="session")
def seed_objects() -> list[dict[str, Any]]:
    return read_manifests([str(SEED_CLUSTER)]).objects

"""Fixtures: the committed samples, parsed, so the tests describe what users actually apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.operator.api import DeliveryPlatform, DroneService

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"


def sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return doc


@pytest.fixture
def platform_doc() -> dict[str, Any]:
    return sample("platform.yaml")


@pytest.fixture
def platform(platform_doc: dict[str, Any]) -> DeliveryPlatform:
    return DeliveryPlatform.model_validate(platform_doc)


@pytest.fixture
def team_service_doc() -> dict[str, Any]:
    return sample("team-service.yaml")


@pytest.fixture
def team_service(team_service_doc: dict[str, Any]) -> DroneService:
    return DroneService.model_validate(team_service_doc)


@pytest.fixture
def dev_platform_doc() -> dict[str, Any]:
    return sample("platform-dev.yaml")


@pytest.fixture
def dev_platform(dev_platform_doc: dict[str, Any]) -> DeliveryPlatform:
    return DeliveryPlatform.model_validate(dev_platform_doc)

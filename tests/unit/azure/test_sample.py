"""The documented sample is a valid platform and provisions what docs/azure.md says it does."""

from __future__ import annotations

from pathlib import Path

import yaml

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, identity_resources, platform_resources
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.catalog import BUNDLED_QUEUES

SAMPLE = Path(__file__).parents[3] / "config" / "samples" / "platform-azure.yaml"


def test_sample_provisions_service_bus_redis_and_an_identity_per_bundled_service() -> None:
    platform = DeliveryPlatform.model_validate(yaml.safe_load(SAMPLE.read_text()))

    kinds = [r.kind for r in platform_resources(platform)]
    identities = [r for svc in bundled_services(platform) for r in identity_resources(svc, platform)]

    assert kinds == [Kind.SERVICE_BUS_NAMESPACE, *[Kind.SERVICE_BUS_QUEUE] * len(BUNDLED_QUEUES), Kind.REDIS_CACHE]
    assert [r.kind for r in identities].count(Kind.IDENTITY) == 8
    assert [r.kind for r in identities].count(Kind.FEDERATED_CREDENTIAL) == 8
    assert all(r.body["tags"]["environment"] == "staging" for r in identities if r.kind == Kind.IDENTITY)

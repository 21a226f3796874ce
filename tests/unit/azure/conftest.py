"""Builders of the specs the desired-resource tests start from."""

from __future__ import annotations

from typing import Any

import pytest

from fabrikam.operator.api import BUNDLED_COMPONENTS, DeliveryPlatform, DroneService

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e0"
DIGEST = "sha256:" + "b" * 64


def build_platform(*, azure: dict[str, Any] | None = None, **spec: Any) -> DeliveryPlatform:
    base_azure = {
        "subscriptionId": SUBSCRIPTION,
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "resourceGroup": "rg-fabrikam",
        "location": "westus2",
        "oidcIssuerUrl": "https://westus2.oic.prod-aks.azure.com/tenant/issuer/",
    }
    body: dict[str, Any] = {
        "image": {"repository": "fabrikam.azurecr.io/fabrikam/drone-delivery", "digest": DIGEST},
        "azure": base_azure | (azure or {}),
        "messaging": {"serviceBus": {"queues": [{"name": "delivery-requests"}]}},
        "cache": {"redis": {}},
        "teams": [
            {
                "name": "shipping",
                "namespace": "shipping",
                "costCenter": "cc-ship",
                # The team's own services in these tests use the pipeline's queue: granted (docs/tenancy.md).
                "queues": [{"name": "delivery-requests", "access": ["send", "receive"]}],
                "services": [component.value for component in BUNDLED_COMPONENTS],
            }
        ],
    } | spec
    return DeliveryPlatform.model_validate({"metadata": {"name": "prod"}, "spec": body})


def build_service(name: str, *, component: str = "custom", uses: Any = (), identity: bool = True) -> DroneService:
    return DroneService.model_validate(
        {
            "metadata": {"name": name, "namespace": "shipping"},
            "spec": {
                "platformRef": {"name": "prod"},
                "component": component,
                "image": {"repository": "fabrikam.azurecr.io/fabrikam/drone-delivery", "digest": DIGEST},
                "uses": list(uses),
                "identity": {"azure": identity},
            },
        }
    )


@pytest.fixture
def make_platform() -> Any:
    return build_platform


@pytest.fixture
def make_service() -> Any:
    return build_service

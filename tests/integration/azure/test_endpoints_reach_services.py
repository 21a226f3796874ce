"""At the operator's default resync (5 minutes), the Azure endpoints a platform's status gains reach its services'
environment at once: the services must not start with `FABRIKAM_BROKER=servicebus` and no namespace until the next
full resync. (The other Azure tests run with a 10-second resync, which would hide this.)"""

import json
import time
from typing import Any

import pytest
import yaml

from .conftest import azure_platform

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def operator_resync_seconds() -> str:
    return "300"  # the operator's default


def test_service_bus_and_redis_endpoints_reach_every_service_within_seconds_of_the_platform_status(
    cluster: Any, azure_operator: Any, arm: Any, kit: Any
) -> None:
    platform = azure_platform(kit.sample_platform(), "Delete")
    name = platform["metadata"]["name"]
    namespaces = {svc: team["namespace"] for team in platform["spec"]["teams"] for svc in team["services"]}
    # As on Azure, where a Premium namespace takes many minutes: the services' own identities are done long before.
    arm.lro_seconds = 25
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    try:
        deadline = time.monotonic() + 180
        while True:
            status = json.loads(cluster.kubectl("get", "deliveryplatform", name, "-o", "json").stdout).get("status", {})
            endpoints = {r["kind"]: r.get("endpoint") for r in status.get("azureResources", [])}
            if endpoints.get("ServiceBusNamespace") and endpoints.get("RedisCache"):
                break
            assert time.monotonic() < deadline, f"no Azure endpoints in the platform's status: {status}"
            time.sleep(0.5)
        published = time.monotonic()

        def missing() -> list[str]:
            lacking = []
            for service, namespace in namespaces.items():
                result = cluster.kubectl(
                    "get", "configmap", f"{service}-config", "-n", namespace, "-o", "json", check=False
                )
                data = json.loads(result.stdout).get("data", {}) if result.returncode == 0 else {}
                if not data.get("FABRIKAM_SERVICEBUS_NAMESPACE") or not data.get("FABRIKAM_REDIS_URL"):
                    lacking.append(service)
            return lacking

        while lacking := missing():
            assert time.monotonic() - published < 30, (
                f"30 s after the endpoints were in the platform's status, {lacking} still lack them"
            )
            time.sleep(1)
        config = json.loads(
            cluster.kubectl("get", "configmap", "ingestion-config", "-n", namespaces["ingestion"], "-o", "json").stdout
        )["data"]
        assert config["FABRIKAM_SERVICEBUS_NAMESPACE"].endswith(".servicebus.windows.net")
        assert config["FABRIKAM_REDIS_URL"].startswith("rediss://")
    finally:
        arm.lro_seconds = 0.2
        cluster.kubectl("delete", "deliveryplatform", name, "--wait=false", check=False)

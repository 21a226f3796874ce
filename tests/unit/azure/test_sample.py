"""The documented sample is a valid platform and provisions what docs/azure.md says it does."""

from __future__ import annotations

from pathlib import Path

import yaml

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, identity_resources, platform_resources
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.catalog import BUNDLED_QUEUES
from fabrikam.operator.render.documents import render_documents

SAMPLE = Path(__file__).parents[3] / "config" / "samples" / "platform-azure.yaml"


def test_sample_provisions_service_bus_redis_and_an_identity_per_bundled_service() -> None:
    platform = DeliveryPlatform.model_validate(yaml.safe_load(SAMPLE.read_text()))

    kinds = [r.kind for r in platform_resources(platform)]
    identities = [r for svc in bundled_services(platform) for r in identity_resources(svc, platform)]

    assert kinds == [
        Kind.SERVICE_BUS_NAMESPACE,
        *[Kind.SERVICE_BUS_QUEUE] * len(BUNDLED_QUEUES),
        Kind.REDIS_CACHE,
        Kind.COSMOS_ACCOUNT,
        Kind.MONGO_DATABASE,
        Kind.MONGO_COLLECTION,
        Kind.POSTGRES_SERVER,
        Kind.POSTGRES_DATABASE,
    ]
    assert [r.kind for r in identities].count(Kind.IDENTITY) == 8
    assert [r.kind for r in identities].count(Kind.FEDERATED_CREDENTIAL) == 8
    assert all(r.body["tags"]["environment"] == "staging" for r in identities if r.kind == Kind.IDENTITY)


def test_sample_lets_each_service_reach_the_azure_endpoints_its_uses_and_identity_need_under_default_deny() -> None:
    """Without `network.egress`, default-deny kept every pod from Service Bus, Redis and Entra ID."""
    document = yaml.safe_load(SAMPLE.read_text())
    rules = {rule["name"]: set(rule["cidrs"]) for rule in document["spec"]["network"]["egress"]}
    rendered = render_documents([document])
    # Every store every service needs is provided: Cosmos DB to package, PostgreSQL to account.
    assert rendered.problems == []
    policies = {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "NetworkPolicy"}

    def reachable(service: str) -> set[str]:
        return {
            peer["ipBlock"]["cidr"]
            for rule in policies[service]["spec"]["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        }

    services = [svc.name for svc in bundled_services(DeliveryPlatform.model_validate(document))]
    assert len(services) == 8
    for service in services:
        assert rules["entra-id-and-key-vault"] <= reachable(service), service  # every service has an Azure identity
    assert rules["azure-servicebus"] <= reachable("ingestion")  # sends delivery requests
    assert rules["azure-redis"] <= reachable("delivery")  # keeps delivery state in Redis
    assert rules["sendgrid-twilio"] <= reachable("notification")
    assert not rules["azure-servicebus"] & reachable("account")  # account uses no queue
    assert rules["azure-cosmos-db"] <= reachable("package")
    assert not rules["azure-cosmos-db"] & reachable("account")
    assert rules["azure-postgres"] <= reachable("account")
    assert not rules["azure-postgres"] & reachable("package")

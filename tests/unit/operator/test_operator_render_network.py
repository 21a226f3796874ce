"""Given the dependency graph, each service's NetworkPolicy opens exactly its edges."""

from __future__ import annotations

from typing import Any

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import bundled_services, callers_of, render_drone_service

NS = "kubernetes.io/metadata.name"


def _policy(svc: DroneService, platform: DeliveryPlatform, peers: list[DroneService]) -> dict[str, Any]:
    policy: dict[str, Any] = next(
        o for o in render_drone_service(svc, platform=platform, peers=peers) if o["kind"] == "NetworkPolicy"
    )
    return policy["spec"]


def _peer_names(rule: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (peer["namespaceSelector"]["matchLabels"][NS], peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
        for peer in rule.get("from", rule.get("to", []))
        if "podSelector" in peer
    }


def test_ingress_only_from_declared_callers(platform: DeliveryPlatform, team_service: DroneService) -> None:
    peers = [*bundled_services(platform), team_service]
    delivery = next(s for s in peers if s.name == "delivery")
    assert [(r.namespace, r.name) for r in callers_of(delivery, peers)] == [
        ("fabrikam-shipping", "delivery-analytics"),
        ("fabrikam-shipping", "workflow"),
    ]
    spec = _policy(delivery, platform, peers)
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    from_callers, from_ingress_controller, from_scraper = spec["ingress"]
    assert _peer_names(from_callers) == {("fabrikam-shipping", "workflow"), ("fabrikam-shipping", "delivery-analytics")}
    assert from_callers["ports"] == [{"protocol": "TCP", "port": "http"}]
    assert from_ingress_controller["from"] == [{"namespaceSelector": {"matchLabels": {NS: "app-routing-system"}}}]
    assert from_scraper["from"] == [{"namespaceSelector": {"matchLabels": {NS: "monitoring"}}}]


def test_an_internal_service_nobody_calls_accepts_only_the_scraper(platform: DeliveryPlatform) -> None:
    peers = bundled_services(platform)
    ingestion_peers = [s for s in peers if s.name != "workflow"]
    scheduler = next(s for s in peers if s.name == "drone-scheduler")
    spec = _policy(scheduler, platform, ingestion_peers)
    assert spec["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {NS: "monitoring"}}}],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]


def test_egress_only_to_dns_callees_collector_and_matching_cidrs(platform: DeliveryPlatform) -> None:
    peers = bundled_services(platform)
    workflow = next(s for s in peers if s.name == "workflow")
    dns, callees, collector, *external = _policy(workflow, platform, peers)["egress"]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert _peer_names(callees) == {
        ("fabrikam-customer", "package"),
        ("fabrikam-fleet", "drone-scheduler"),
        ("fabrikam-shipping", "delivery"),
    }
    assert collector["ports"] == [{"protocol": "TCP", "port": 4317}, {"protocol": "TCP", "port": 4318}]
    # workflow uses a queue and has an identity: Service Bus and Entra, not Redis, SQL or third parties.
    cidrs = [peer["ipBlock"]["cidr"] for rule in external for peer in rule["to"]]
    assert cidrs == ["20.42.128.0/18", "20.190.128.0/18", "40.126.0.0/18", "20.42.0.0/17"]


def test_without_platform_egress_rules_nothing_leaves_the_cluster(platform_doc: dict[str, Any]) -> None:
    platform_doc["spec"]["network"]["egress"] = []
    platform_doc["spec"]["observability"] = {}
    platform = DeliveryPlatform.model_validate(platform_doc)
    peers = bundled_services(platform)
    notification = next(s for s in peers if s.name == "notification")
    egress = _policy(notification, platform, peers)["egress"]
    assert len(egress) == 1
    assert egress[0]["ports"][0]["port"] == 53


def test_the_token_issuer_is_reachable_by_services_without_an_azure_identity(platform: DeliveryPlatform) -> None:
    peers = bundled_services(platform)
    workflow = next(s for s in peers if s.name == "workflow")
    workflow.spec.identity.azure = False
    without_auth = platform.model_copy(update={"spec": platform.spec.model_copy(update={"auth": None})})

    def cidrs(p: DeliveryPlatform) -> set[str]:
        _dns, _callees, _collector, *external = _policy(workflow, p, peers)["egress"]
        return {peer["ipBlock"]["cidr"] for rule in external for peer in rule["to"]}

    entra = {"20.190.128.0/18", "40.126.0.0/18"}
    assert platform.spec.auth is not None
    assert entra <= cidrs(platform)
    assert not entra & cidrs(without_auth)

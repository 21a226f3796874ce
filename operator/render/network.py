"""NetworkPolicies: default deny per team namespace, and per service exactly the edges of the dependency graph.

Ports are the container's named port `http`, so a policy never needs to know another service's port number.
"""

from __future__ import annotations

from fabrikam.operator.api import DeliveryPlatform, DroneService, EgressKind, EgressRule
from fabrikam.operator.render.graph import ServiceRef
from fabrikam.operator.render.labels import NAMESPACE_NAME, Obj, metadata, selector

NETWORKING = "networking.k8s.io/v1"
OTLP_PORTS = (4317, 4318)
HTTP_PORT = [{"protocol": "TCP", "port": "http"}]


def _namespace(name: str) -> Obj:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: name}}}


def _peer(ref: ServiceRef) -> Obj:
    return _namespace(ref.namespace) | {"podSelector": {"matchLabels": selector(ref.name)}}


def _tcp(ports: tuple[int, ...] | list[int]) -> list[Obj]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def dns_egress(platform: DeliveryPlatform) -> Obj:
    """Egress to the cluster DNS, the one destination every pod needs."""
    return {
        "to": [
            _namespace(platform.spec.network.dns_namespace) | {"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def team_policies(
    namespace: str, *, platform: DeliveryPlatform, labels: dict[str, str], owners: list[Obj]
) -> list[Obj]:
    """Deny all traffic in and out of the namespace, except DNS; services then open only their own edges."""
    return [
        {
            "apiVersion": NETWORKING,
            "kind": "NetworkPolicy",
            "metadata": metadata("default-deny", namespace=namespace, labels=labels, owners=owners),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": NETWORKING,
            "kind": "NetworkPolicy",
            "metadata": metadata("allow-dns", namespace=namespace, labels=labels, owners=owners),
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [dns_egress(platform)]},
        },
    ]


def egress_kinds(svc: DroneService, platform: DeliveryPlatform) -> set[EgressKind]:
    """What a service reaches outside the cluster, in the vocabulary of the platform's egress rules."""
    kinds = {EgressKind(use.kind.value) for use in svc.spec.uses}
    if svc.spec.identity.azure or platform.spec.auth is not None:
        # Workload identity tokens, and the issuer's JWKS every service checks bearer tokens against.
        kinds.add(EgressKind.IDENTITY)
    if svc.spec.secrets:
        kinds.add(EgressKind.KEY_VAULT)
    observability = platform.spec.observability
    if observability.otlp_endpoint is not None or observability.application_insights is not None:
        # An OTLP collector outside the cluster, or Azure Monitor's ingestion (the AzureMonitor service tag).
        kinds.add(EgressKind.OBSERVABILITY)
    return kinds


# What a service's pods open to a store behind a private endpoint: Service Bus AMQP over TLS (5671) and over
# WebSockets (443), Redis' TLS port, a clustered cache's per-shard TLS ports, Cosmos DB's MongoDB port, PostgreSQL,
# Key Vault's HTTPS.
_PRIVATE_PORTS: dict[EgressKind, list[Obj]] = {
    EgressKind.QUEUE: _tcp((5671, 443)),
    EgressKind.REDIS: _tcp((6380,)),
    EgressKind.MONGO: _tcp((10255,)),
    EgressKind.SQL: _tcp((5432,)),
    EgressKind.KEY_VAULT: _tcp((443,)),
}
_CLUSTERED_REDIS = {"protocol": "TCP", "port": 15000, "endPort": 15999}


def _behind_private_endpoints(platform: DeliveryPlatform) -> set[EgressKind]:
    """The kinds of store the platform keeps in Azure, which private endpoints then serve."""
    spec, azure = platform.spec, platform.spec.azure
    if azure is None or azure.private_endpoints is None:
        return set()
    kept = {
        EgressKind.QUEUE: spec.messaging.service_bus is not None,
        EgressKind.REDIS: spec.cache.redis is not None,
        EgressKind.MONGO: spec.databases.cosmos_db is not None,
        EgressKind.SQL: spec.databases.postgres is not None,
        EgressKind.KEY_VAULT: azure.key_vault_name is not None,
    }
    return {kind for kind, present in kept.items() if present}


def private_endpoint_egress(kinds: set[EgressKind], platform: DeliveryPlatform) -> list[Obj]:
    """Egress to the private-endpoint subnets (the recovery one too, for after a failover) on the ports of the
    stores the service uses; nothing without private endpoints."""
    azure = platform.spec.azure
    used = sorted(kinds & _behind_private_endpoints(platform))
    if azure is None or azure.private_endpoints is None or not used:
        return []
    private = azure.private_endpoints
    ports = [port for kind in used for port in _PRIVATE_PORTS[kind]]
    redis = platform.spec.cache.redis
    if EgressKind.REDIS in used and redis is not None and redis.shard_count is not None:
        ports.append(_CLUSTERED_REDIS)
    unique_ports = list({(p["port"], p.get("endPort")): p for p in ports}.values())
    cidrs = [private.subnet_cidr, *([private.recovery_subnet_cidr] if private.recovery_subnet_cidr else [])]
    return [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs], "ports": unique_ports}]


def _applies(rule: EgressRule, kinds: set[EgressKind]) -> bool:
    return bool(kinds) and (not rule.kinds or bool(kinds.intersection(rule.kinds)))


def service_policy(
    svc: DroneService,
    *,
    platform: DeliveryPlatform,
    callers: list[ServiceRef],
    callees: list[ServiceRef],
    labels: dict[str, str],
    owners: list[Obj],
    store_egress: list[Obj] | None = None,
) -> Obj:
    """Ingress from the callers it accepts (and the ingress controller when exposed); egress to the callees that
    accept it and to declared dependencies (`store_egress`: to the platform's in-cluster stores)."""
    ingress = [{"from": [_peer(ref) for ref in callers], "ports": HTTP_PORT}] if callers else []
    if svc.spec.expose is not None:
        ingress.append({"from": [_namespace(platform.spec.ingress.controller_namespace)], "ports": HTTP_PORT})
    metrics = platform.spec.observability.metrics
    if metrics.enabled and metrics.scraper_namespace is not None:
        ingress.append({"from": [_namespace(metrics.scraper_namespace)], "ports": HTTP_PORT})

    egress = [dns_egress(platform)]
    if callees:
        egress.append({"to": [_peer(ref) for ref in callees], "ports": HTTP_PORT})
    egress += store_egress or []
    collector = platform.spec.observability.collector_namespace
    if collector is not None:
        egress.append({"to": [_namespace(collector)], "ports": _tcp(OTLP_PORTS)})
    kinds = egress_kinds(svc, platform)
    egress += private_endpoint_egress(kinds, platform)
    for rule in platform.spec.network.egress:
        if _applies(rule, kinds):
            egress.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in rule.cidrs], "ports": _tcp(rule.ports)})

    return {
        "apiVersion": NETWORKING,
        "kind": "NetworkPolicy",
        "metadata": metadata(svc.name, namespace=svc.namespace, labels=labels, owners=owners),
        "spec": {
            "podSelector": {"matchLabels": selector(svc.name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }

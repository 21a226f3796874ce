"""What the platform's Azure resources tell its services: host names wired into their environment."""

from typing import Any
from urllib.parse import urlparse


def _host(endpoint: str) -> str:
    """The host of `https://host:443/` (Service Bus) or `host:6380` (Redis)."""
    if "://" in endpoint:
        return urlparse(endpoint).hostname or endpoint
    return endpoint.rstrip("/").rsplit(":", 1)[0]


# Where the services reach each store, best first: with disaster recovery the name that follows a failover (the
# Service Bus geo-recovery alias, the Redis geo-primary host name), else the store's own.
_SERVICE_BUS = ("ServiceBusGeoRecoveryAlias", "ServiceBusNamespace")
_REDIS = ("RedisLinkedServer", "RedisCache")


def platform_environment(platform_body: dict[str, Any] | None) -> dict[str, str]:
    """FABRIKAM_SERVICEBUS_NAMESPACE and FABRIKAM_REDIS_URL from `status.azureResources` once they have endpoints."""
    hosts: dict[str, str] = {}
    for resource in ((platform_body or {}).get("status") or {}).get("azureResources", []):
        endpoint = resource.get("endpoint")
        if endpoint and resource["kind"] in (*_SERVICE_BUS, *_REDIS):
            hosts.setdefault(resource["kind"], _host(endpoint))
    environment: dict[str, str] = {}
    bus = next((hosts[kind] for kind in _SERVICE_BUS if kind in hosts), None)
    if bus is not None:
        environment["FABRIKAM_SERVICEBUS_NAMESPACE"] = bus
    cache = next((hosts[kind] for kind in _REDIS if kind in hosts), None)
    if cache is not None:
        # TLS only (the non-TLS port is off) and Entra ID authentication: no key in the URL.
        environment["FABRIKAM_REDIS_URL"] = f"rediss://{cache}:6380/0"
    return environment


def platform_endpoints(platform_body: dict[str, Any] | None) -> dict[str, str]:
    """The endpoint of each kind of the platform's Azure resources (`status.azureResources`) that has one: the
    PostgreSQL host, the Key Vault version of the Cosmos DB connection string, ..."""
    return {
        str(resource["kind"]): str(resource["endpoint"])
        for resource in ((platform_body or {}).get("status") or {}).get("azureResources", [])
        if resource.get("endpoint")
    }

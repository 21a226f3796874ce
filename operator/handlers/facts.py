"""What the platform's Azure resources tell its services: host names wired into their environment."""

from typing import Any
from urllib.parse import urlparse


def _host(endpoint: str) -> str:
    """The host of `https://host:443/` (Service Bus) or `host:6380` (Redis)."""
    if "://" in endpoint:
        return urlparse(endpoint).hostname or endpoint
    return endpoint.rstrip("/").rsplit(":", 1)[0]


def platform_environment(platform_body: dict[str, Any] | None) -> dict[str, str]:
    """FABRIKAM_SERVICEBUS_NAMESPACE and FABRIKAM_REDIS_URL from `status.azureResources` once they have endpoints."""
    environment: dict[str, str] = {}
    for resource in ((platform_body or {}).get("status") or {}).get("azureResources", []):
        endpoint = resource.get("endpoint")
        if not endpoint:
            continue
        if resource["kind"] == "ServiceBusNamespace":
            environment["FABRIKAM_SERVICEBUS_NAMESPACE"] = _host(endpoint)
        elif resource["kind"] == "RedisCache":
            # TLS only (the non-TLS port is off) and Entra ID authentication: no key in the URL.
            environment["FABRIKAM_REDIS_URL"] = f"rediss://{_host(endpoint)}:6380/0"
    return environment


def platform_endpoints(platform_body: dict[str, Any] | None) -> dict[str, str]:
    """The endpoint of each kind of the platform's Azure resources (`status.azureResources`) that has one: the
    PostgreSQL host, the Key Vault version of the Cosmos DB connection string, ..."""
    return {
        str(resource["kind"]): str(resource["endpoint"])
        for resource in ((platform_body or {}).get("status") or {}).get("azureResources", [])
        if resource.get("endpoint")
    }

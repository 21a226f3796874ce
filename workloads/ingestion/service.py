"""Wires the ingestion service: its API (with token checks when an issuer is configured); no queue."""

from fabrikam.workloads.ingestion import api
from fabrikam.workloads.ingestion.ratelimit import RateLimiter
from fabrikam.workloads.kit.auth import Auth, TokenVerifier
from fabrikam.workloads.kit.service import Runtime, ServiceParts


def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    auth = Auth(TokenVerifier.from_settings(settings))
    ownership = api.Ownership(runtime.redis)
    return ServiceParts(
        title="Fabrikam ingestion",
        routers=[api.router(runtime.broker, limiter, settings.outbound_timeout_seconds, auth, ownership)],
        on_stop=[auth.close],
    )

"""Wires the drone telemetry service: its API and a publisher for position events."""

from fabrikam.workloads.kit.auth import Auth, TokenVerifier
from fabrikam.workloads.kit.messaging import factory
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.telemetry import api
from fabrikam.workloads.telemetry.store import DroneStates

# A position is deduplicated only against quick retries of the same report: a day-long window (the default,
# right for commands) would keep a key per report, thousands a second.
POSITION_DUPLICATE_WINDOW_SECONDS = 300


def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    publisher_settings = settings.model_copy(update={"duplicate_window_seconds": POSITION_DUPLICATE_WINDOW_SECONDS})
    publisher = factory.broker(publisher_settings, runtime.redis)
    states = DroneStates(runtime.redis)
    auth = Auth(TokenVerifier.from_settings(settings))
    ingest = api.Ingest(states, publisher, settings)

    async def close() -> None:
        await auth.close()
        await publisher.close()

    return ServiceParts(title="Fabrikam drone telemetry", routers=[api.router(ingest, states, auth)], on_stop=[close])

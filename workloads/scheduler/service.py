"""Wires the drone scheduler: fleet API and the scheduler-commands queue."""

from fabrikam.workloads.contracts import SCHEDULER_COMMANDS
from fabrikam.workloads.kit.auth import Auth, TokenVerifier, protected
from fabrikam.workloads.kit.metrics import DRONES
from fabrikam.workloads.kit.resilience import circuit_breakers
from fabrikam.workloads.kit.sampling import Sampler
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.scheduler import api
from fabrikam.workloads.scheduler.fleet import Fleet
from fabrikam.workloads.scheduler.handlers import SchedulerHandlers
from fabrikam.workloads.scheduler.weather import WeatherClient


def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    fleet = Fleet(runtime.redis, radius_km=settings.search_radius_km, min_battery=settings.min_battery_percent)
    weather = WeatherClient(
        settings.weather_url,
        timeout_seconds=settings.outbound_timeout_seconds,
        fallback_max_age_seconds=settings.weather_fallback_max_age_seconds,
        breakers=circuit_breakers(),
    )
    auth = Auth(TokenVerifier.from_settings(settings))

    async def count_drones() -> None:
        for status, count in (await fleet.by_status()).items():
            DRONES.labels(status).set(count)

    drones = Sampler("drones by status", count_drones)
    return ServiceParts(
        title="Fabrikam drone scheduler",
        routers=[protected(auth, api.router(fleet, auth))],
        consumers={SCHEDULER_COMMANDS: SchedulerHandlers(fleet, weather, runtime.broker).handlers()},
        on_start=[drones.start],
        on_stop=[drones.stop, weather.close, auth.close],
    )

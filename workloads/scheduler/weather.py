"""Flight weather from an external API, with timeout, retries, a circuit breaker and a safe fallback.

Fallback (seed: no retry logic, no fallback): when the API cannot answer, the last verdict for the same
area is used while younger than `fallback_max_age`; with no recent verdict the answer is "not flyable".
Grounding a drone is recoverable, flying into a storm is not. With no API configured the check is off.
"""

import time
from dataclasses import dataclass

import httpx
from purgatory import AsyncCircuitBreakerFactory

from fabrikam.workloads.kit.resilience import retry_transient


@dataclass(frozen=True)
class Verdict:
    flyable: bool
    source: str  # "api", "cache", "fallback" or "disabled"


class WeatherClient:
    """`GET {base}/v1/conditions?latitude=..&longitude=..` answering `{"flyable": bool}`."""

    def __init__(
        self,
        base_url: str | None,
        *,
        timeout_seconds: float,
        fallback_max_age_seconds: float,
        breakers: AsyncCircuitBreakerFactory,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url or "http://unused.invalid", timeout=timeout_seconds)
        self._enabled = base_url is not None
        self._fallback_max_age = fallback_max_age_seconds
        self._breakers = breakers
        self._last: dict[tuple[float, float], tuple[bool, float]] = {}

    async def verdict(self, latitude: float, longitude: float) -> Verdict:
        if not self._enabled:
            return Verdict(True, "disabled")
        area = (round(latitude, 1), round(longitude, 1))
        try:
            breaker = await self._breakers.get_breaker("weather")
            async with breaker:
                flyable = await retry_transient(lambda: self._fetch(latitude, longitude), attempts=3)
        except Exception:
            remembered = self._last.get(area)
            if remembered and time.monotonic() - remembered[1] <= self._fallback_max_age:
                return Verdict(remembered[0], "cache")
            return Verdict(False, "fallback")
        self._last[area] = (flyable, time.monotonic())
        return Verdict(flyable, "api")

    async def _fetch(self, latitude: float, longitude: float) -> bool:
        response = await self._http.get("/v1/conditions", params={"latitude": latitude, "longitude": longitude})
        response.raise_for_status()
        return bool(response.json()["flyable"])

    async def close(self) -> None:
        await self._http.aclose()

"""The simulator's loop: request deliveries, pick up assignments, fly, report telemetry, confirm.

Time runs `speed_up` times faster than the wall clock: a drone flying 15 m/s with a speed-up of 10 covers
150 m per wall second, reports its real (wall-clock) ground speed so the delivery service's ETAs are in wall
time, and reports once per simulated second (never more often than every `MIN_REPORT_INTERVAL_S` of wall
time). Waypoints are always reported when passed, so a coarse report interval cannot skip a pickup.
"""

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fabrikam.workloads.simulator.flight import Fix, Flight, Point, destination

SEATTLE = Point(47.6062, -122.3321)
MIN_REPORT_INTERVAL_S = 0.05
DISPATCH_INTERVAL_S = 0.25
ALTITUDE_M = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatorConfig:
    drones: int = 20
    requests_per_second: float = 1.0
    speed_up: float = 10.0
    speed_mps: float = 15.0
    center: Point = SEATTLE
    radius_m: float = 2500.0
    owner: str = "fabrikam-demo"
    confirmation_share: float = 0.0
    notify_email: str | None = "customer@fabrikam.example"
    register_fleet: bool = True
    seed: int = 7


@dataclass
class Flying:
    delivery_id: str
    drone_id: str
    flight: Flight
    took_off: float  # wall clock (monotonic)
    confirmation_required: bool
    reported_waypoints: int = 0
    last: Fix | None = None


@dataclass
class Snapshot:
    """What the simulator knows at one instant, for dashboards and tests."""

    requested: dict[str, datetime] = field(default_factory=dict)  # delivery id -> when it was requested
    flying: dict[str, Flying] = field(default_factory=dict)
    arrived: dict[str, datetime] = field(default_factory=dict)  # delivery id -> wall time at the drop-off
    reports: int = 0
    refused: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Tokens:
    business: str
    fleet: str


class FleetSimulator:
    def __init__(self, urls: dict[str, str], config: SimulatorConfig, tokens: Tokens | None = None) -> None:
        self.urls = urls
        self.config = config
        self.state = Snapshot()
        self._random = random.Random(config.seed)
        self._tokens = tokens
        self._done: set[str] = set()
        self._all_arrived = asyncio.Event()

    def _headers(self, who: str) -> dict[str, str]:
        if self._tokens is None:
            return {}
        return {"Authorization": f"Bearer {self._tokens.fleet if who == 'fleet' else self._tokens.business}"}

    async def run(self, seconds: float, requests: int | None = None, drain_seconds: float = 0.0) -> Snapshot:
        """Request deliveries for `seconds` (or until `requests` were made), then keep flying until every
        requested delivery arrived or `drain_seconds` more passed."""
        async with httpx.AsyncClient(timeout=10) as http:
            self._http = http
            if self.config.register_fleet:
                await self._register_fleet()
            flying = asyncio.create_task(self._fly_loop())
            dispatch = asyncio.create_task(self._dispatch_loop())
            try:
                await self._request_loop(seconds, requests)
                if set(self.state.requested) - set(self.state.arrived):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._all_arrived.wait(), drain_seconds)
            finally:
                for task in (flying, dispatch):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        return self.state

    async def _register_fleet(self) -> None:
        sizes = ("small", "medium", "large")
        for index in range(self.config.drones):
            base = destination(self.config.center, index * 137.5 % 360, 300 + 40 * (index % 25))
            body = {
                "latitude": base.latitude,
                "longitude": base.longitude,
                "battery": 100,
                "payloadClass": "large" if index % 2 == 0 else sizes[index % 3],
                "speedMps": self.config.speed_mps,
            }
            response = await self._http.put(
                f"{self.urls['scheduler']}/v1/drones/drone-{index:04d}", json=body, headers=self._headers("fleet")
            )
            response.raise_for_status()

    async def _request_loop(self, seconds: float, requests: int | None) -> None:
        interval = 1.0 / self.config.requests_per_second
        end = time.monotonic() + seconds
        made = 0
        while time.monotonic() < end and (requests is None or made < requests):
            started = time.monotonic()
            try:
                await self._request_one(made)
            except Exception as error:
                self._count_failure("request", error)
            made += 1
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def _request_one(self, index: int) -> None:
        pickup = destination(self.config.center, self._random.uniform(0, 360), self._random.uniform(200, 1500))
        dropoff = destination(pickup, self._random.uniform(0, 360), self._random.uniform(800, self.config.radius_m))
        now = datetime.now(UTC)
        body = {
            "owner": self.config.owner,
            "pickup": {"latitude": pickup.latitude, "longitude": pickup.longitude, "address": f"pickup {index}"},
            "dropoff": {"latitude": dropoff.latitude, "longitude": dropoff.longitude, "address": f"drop {index}"},
            "pickupTime": now.isoformat(),
            "deadline": (now + timedelta(hours=2)).isoformat(),
            "confirmationRequired": self._random.random() < self.config.confirmation_share,
            "package": {"size": "small", "weightKg": 1.0, "tag": f"sim-{index % 10}"},
        }
        response = await self._http.post(
            f"{self.urls['ingestion']}/v1/deliveryrequests", json=body, headers=self._headers("business")
        )
        response.raise_for_status()
        delivery_id = str(response.json()["deliveryId"])
        self.state.requested[delivery_id] = now
        self._all_arrived.clear()
        if self.config.notify_email and "notification" in self.urls:
            # Right after the 202, as a customer would: notification keeps the subscription until the
            # delivery's first stage change reaches it.
            notify = await self._http.post(
                f"{self.urls['notification']}/v1/deliveries/{delivery_id}/notify-me",
                json={"email": self.config.notify_email},
                headers=self._headers("business"),
            )
            notify.raise_for_status()

    async def _dispatch_loop(self) -> None:
        """Assigned drones whose delivery is scheduled take off from where the scheduler has them (their base)."""
        while True:
            try:
                await self._dispatch()
            except Exception as error:
                self._count_failure("dispatch", error)
            await asyncio.sleep(DISPATCH_INTERVAL_S)

    async def _dispatch(self) -> None:
        listed = await self._http.get(
            f"{self.urls['scheduler']}/v1/drones", params={"limit": 1000}, headers=self._headers("fleet")
        )
        listed.raise_for_status()
        for drone in listed.json():
            delivery_id = drone.get("deliveryId")
            if drone["status"] != "assigned" or not delivery_id:
                continue
            if delivery_id in self.state.flying or delivery_id in self._done:
                continue
            if any(flying.drone_id == drone["id"] for flying in self.state.flying.values()):
                continue  # still finishing its previous delivery: takes off once landed
            response = await self._http.get(
                f"{self.urls['delivery']}/v1/deliveries/{delivery_id}", headers=self._headers("fleet")
            )
            if response.status_code != 200:
                continue
            delivery = response.json()
            if delivery["stage"] not in ("scheduled", "headed_to_pickup"):
                continue
            waypoints = [
                Point(drone["latitude"], drone["longitude"]),
                Point(delivery["pickup"]["latitude"], delivery["pickup"]["longitude"]),
                Point(delivery["dropoff"]["latitude"], delivery["dropoff"]["longitude"]),
            ]
            flight = Flight(waypoints, self.config.speed_mps * self.config.speed_up, float(drone["battery"]))
            self.state.flying[delivery_id] = Flying(
                delivery_id, drone["id"], flight, time.monotonic(), bool(delivery["confirmationRequired"])
            )

    async def _fly_loop(self) -> None:
        interval = max(MIN_REPORT_INTERVAL_S, 1.0 / self.config.speed_up)
        while True:
            started = time.monotonic()
            try:
                await self._report()
            except Exception as error:
                self._count_failure("telemetry", error)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def _report(self) -> None:
        now_wall, now = time.monotonic(), datetime.now(UTC)
        reports: list[dict[str, Any]] = []
        landed: list[Flying] = []
        passed: dict[str, int] = {}  # waypoints count as reported only once the batch is accepted
        for flying in list(self.state.flying.values()):
            elapsed = now_wall - flying.took_off
            for index, at in enumerate(flying.flight.waypoint_times()):
                if index >= flying.reported_waypoints and at <= elapsed:
                    reports.append(self._telemetry(flying, flying.flight.at(at), now - timedelta(seconds=elapsed - at)))
                    passed[flying.delivery_id] = index + 1
            fix = flying.flight.at(elapsed)
            flying.last = fix
            if fix.leg < len(flying.flight.legs_m):
                reports.append(self._telemetry(flying, fix, now))
            else:
                landed.append(flying)
        if reports:
            response = await self._http.post(
                f"{self.urls['drone-telemetry']}/v1/telemetry",
                json={"reports": reports},
                headers=self._headers("fleet"),
            )
            response.raise_for_status()
            self.state.reports += len(reports)
        for delivery_id, count in passed.items():
            self.state.flying[delivery_id].reported_waypoints = count
        for flying in landed:
            if flying.reported_waypoints < len(flying.flight.legs_m):
                continue  # the drop-off itself is not reported yet
            await self._land(flying)

    def _count_failure(self, where: str, error: Exception) -> None:
        """The loops keep going (a later tick retries); failures are counted and logged, never fatal."""
        key = f"{where}: {type(error).__name__}"
        self.state.refused[key] = self.state.refused.get(key, 0) + 1
        log.warning("simulator step failed", extra={"fields": {"step": where, "error": repr(error)}})

    def _telemetry(self, flying: Flying, fix: Fix, at: datetime) -> dict[str, Any]:
        arrived = fix.leg >= len(flying.flight.legs_m)
        return {
            "droneId": flying.drone_id,
            "latitude": fix.point.latitude,
            "longitude": fix.point.longitude,
            "altitudeM": 0.0 if arrived else ALTITUDE_M,
            "battery": round(fix.battery, 2),
            "speedMps": 0.0 if arrived else flying.flight.speed_mps,
            "heading": round(fix.heading, 1) % 360,
            "flightMode": "landing" if arrived else "cruise",
            "reportedAt": at.isoformat(),
        }

    async def _land(self, flying: Flying) -> None:
        """At the drop-off: confirm when the delivery asks for it, then the drone goes home (its base)."""
        times = flying.flight.waypoint_times()
        self.state.arrived[flying.delivery_id] = datetime.now(UTC) - timedelta(
            seconds=time.monotonic() - flying.took_off - times[-1]
        )
        if flying.confirmation_required:
            confirmed = await self._http.post(
                f"{self.urls['delivery']}/v1/deliveries/{flying.delivery_id}/confirmations",
                json={"confirmedBy": "simulated recipient"},
                headers=self._headers("business"),
            )
            confirmed.raise_for_status()
        base = flying.flight.waypoints[0]
        battery = flying.last.battery if flying.last else flying.flight.battery
        with contextlib.suppress(httpx.HTTPError):
            await self._http.put(
                f"{self.urls['scheduler']}/v1/drones/{flying.drone_id}",
                json={
                    "latitude": base.latitude,
                    "longitude": base.longitude,
                    "battery": round(max(battery, 0.0), 2),
                    "payloadClass": "large",
                    "speedMps": self.config.speed_mps,
                },
                headers=self._headers("fleet"),
            )
        del self.state.flying[flying.delivery_id]
        self._done.add(flying.delivery_id)
        if set(self.state.requested) <= set(self.state.arrived):
            self._all_arrived.set()

"""Scheduler commands: assign the nearest capable drone, or say why none can fly; release on request."""

from collections.abc import Mapping

from fabrikam.workloads.contracts import (
    FROM_PEERS,
    WORKFLOW_EVENTS,
    AssignDrone,
    DroneAssigned,
    DroneUnavailable,
    ReleaseDrone,
)
from fabrikam.workloads.kit.messaging.message import Message, outgoing
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.worker import Handler
from fabrikam.workloads.scheduler.fleet import Fleet
from fabrikam.workloads.scheduler.weather import WeatherClient


class SchedulerHandlers:
    def __init__(self, fleet: Fleet, weather: WeatherClient, broker: Broker) -> None:
        self._fleet = fleet
        self._weather = weather
        self._broker = broker

    async def assign(self, message: Message) -> None:
        command = AssignDrone.model_validate(message.body, context=FROM_PEERS)
        verdict = await self._weather.verdict(command.pickup.latitude, command.pickup.longitude)
        if not verdict.flyable:
            reason = f"weather at pickup is not flyable ({verdict.source})"
            reply = outgoing(
                f"DroneUnavailable:{command.delivery_id}",
                DroneUnavailable(delivery_id=command.delivery_id, reason=reason),
            )
        else:
            drone = await self._fleet.assign(command.delivery_id, command.pickup, command.size)
            if drone is None:
                unavailable = DroneUnavailable(
                    delivery_id=command.delivery_id, reason=f"no available {command.size} drone in range"
                )
                reply = outgoing(f"DroneUnavailable:{command.delivery_id}", unavailable)
            else:
                assigned = DroneAssigned(delivery_id=command.delivery_id, drone=drone.snapshot())
                reply = outgoing(f"DroneAssigned:{command.delivery_id}", assigned)
        await self._broker.publish(WORKFLOW_EVENTS, reply)

    async def release(self, message: Message) -> None:
        await self._fleet.release(ReleaseDrone.model_validate(message.body, context=FROM_PEERS).delivery_id)

    def handlers(self) -> Mapping[str, Handler]:
        return {AssignDrone.__name__: self.assign, ReleaseDrone.__name__: self.release}

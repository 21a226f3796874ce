"""Message handlers of the workflow: load the saga, decide, compare-and-set, then send the outbox.

Exactly-once effect per message: a message id already applied changes nothing; the saga's outbox is (re)sent
before and after each decision, and the broker drops command ids it already accepted, so a crash between
saving and sending loses nothing and duplicates nothing.
"""

from collections.abc import Mapping

from fabrikam.workloads.contracts import (
    DeliveryCancelled,
    DeliveryCompleted,
    DeliveryRequested,
    DeliveryRescheduled,
    DeliveryScheduled,
    DeliveryScoped,
    DroneAssigned,
    DroneUnavailable,
    PackageCreated,
    PackageRejected,
)
from fabrikam.workloads.kit.documents import Versioned, VersionedDocuments
from fabrikam.workloads.kit.messaging.message import Message, outgoing_raw
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.worker import Handler
from fabrikam.workloads.workflow.saga import Command, Incoming, Saga, decide

CONTRACTS: tuple[type[DeliveryScoped], ...] = (
    DeliveryRequested,
    DeliveryRescheduled,
    DeliveryCancelled,
    PackageCreated,
    PackageRejected,
    DroneAssigned,
    DroneUnavailable,
    DeliveryScheduled,
    DeliveryCompleted,
)


class SagaHandler:
    """Applies any saga message to the saga it belongs to."""

    def __init__(self, sagas: VersionedDocuments[Saga], broker: Broker) -> None:
        self._sagas = sagas
        self._broker = broker

    async def _send(self, commands: list[Command]) -> None:
        for command in commands:
            await self._broker.publish(command.queue, outgoing_raw(command.message_id, command.type, command.body))

    def handler(self, contract: type[DeliveryScoped]) -> Handler:
        async def handle(message: Message) -> None:
            incoming = Incoming(message.id, contract.model_validate(message.body))
            delivery_id = incoming.body.delivery_id
            previous = await self._sagas.load(delivery_id)
            if previous is not None:
                await self._send(previous.document.outbox)

            def decision(current: Versioned[Saga] | None) -> tuple[Saga, list[str]] | None:
                decided = decide(current.document if current else None, incoming)
                return (decided[0], []) if decided else None

            saga = await self._sagas.update(delivery_id, decision)
            if saga is not None and incoming.message_id in saga.applied:
                await self._send(saga.outbox)

        return handle

    def handlers(self) -> Mapping[str, Handler]:
        return {contract.__name__: self.handler(contract) for contract in CONTRACTS}

"""Message handlers of the workflow: load the saga, decide, compare-and-set, then send the outbox.

Exactly-once effect per message: a message id already applied changes nothing. The saga keeps its recent
commands (outbox); a redelivered message, which is what a crash between saving and sending produces, sends
them all again, and the broker drops the command ids it already accepted. So nothing is lost or doubled.
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
            decided: list[Command] | None = None

            def decision(current: Versioned[Saga] | None) -> tuple[Saga, list[str]] | None:
                nonlocal decided
                outcome = decide(current.document if current else None, incoming)
                if outcome is None:
                    decided = None
                    return None
                saga, decided = outcome
                return saga, []

            saga = await self._sagas.update(incoming.body.delivery_id, decision)
            if decided is not None:
                await self._send(decided)
            elif saga is not None and incoming.message_id in saga.applied:
                await self._send(saga.outbox)  # a redelivery: what a crash may have left unsent goes again

        return handle

    def handlers(self) -> Mapping[str, Handler]:
        return {contract.__name__: self.handler(contract) for contract in CONTRACTS}

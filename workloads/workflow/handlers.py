"""Message handlers of the workflow: decide on the saga, compare-and-set it, then send the commands.

Exactly-once effect per message: a message id already applied changes nothing. The saga keeps its recent
commands (outbox); a redelivered message, which is what a crash between saving and sending produces, sends
them all again, and the broker drops the command ids it already accepted. So nothing is lost or doubled.
"""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from fabrikam.workloads.contracts import (
    FROM_PEERS,
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
    StepTimedOut,
)
from fabrikam.workloads.kit.messaging.message import Message, outgoing_raw
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.worker import Handler
from fabrikam.workloads.workflow.saga import Command, Incoming, StepPolicy, decide
from fabrikam.workloads.workflow.store import SagaStore

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
    StepTimedOut,
)


class SagaHandler:
    """Applies any saga message to the saga it belongs to."""

    def __init__(
        self,
        sagas: SagaStore,
        broker: Broker,
        policy: StepPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sagas = sagas
        self._broker = broker
        self._policy = policy
        self._clock = clock

    async def _send(self, commands: list[Command]) -> None:
        for command in commands:
            await self._broker.publish(command.queue, outgoing_raw(command.message_id, command.type, command.body))

    def handler(self, contract: type[DeliveryScoped]) -> Handler:
        async def handle(message: Message) -> None:
            incoming = Incoming(message.id, contract.model_validate(message.body, context=FROM_PEERS))
            now = self._clock()
            saga, decided = await self._sagas.apply(
                incoming.body.delivery_id, lambda current: decide(current, incoming, now, self._policy)
            )
            redelivered = decided is None and saga is not None and incoming.message_id in saga.applied
            if saga is not None and (redelivered or contract is StepTimedOut):
                await self._sagas.sync_deadline(saga)  # timed out, early, or for a step already answered
            if decided is not None:
                await self._send(decided)
            elif redelivered and saga is not None:
                await self._send(saga.outbox)  # what a crash may have left unsent goes again

        return handle

    def handlers(self) -> Mapping[str, Handler]:
        return {contract.__name__: self.handler(contract) for contract in CONTRACTS}

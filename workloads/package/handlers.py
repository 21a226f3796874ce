"""Package commands: create (answering created or rejected) and cancel."""

from collections.abc import Mapping

from fabrikam.workloads.contracts import (
    FROM_PEERS,
    MAX_WEIGHT_KG,
    WORKFLOW_EVENTS,
    CancelPackage,
    CreatePackage,
    PackageCreated,
    PackageRejected,
)
from fabrikam.workloads.kit.messaging.message import Message, outgoing
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.worker import Handler
from fabrikam.workloads.package.store import PackageStore


class PackageHandlers:
    def __init__(self, store: PackageStore, broker: Broker) -> None:
        self._store = store
        self._broker = broker

    async def create(self, message: Message) -> None:
        command = CreatePackage.model_validate(message.body, context=FROM_PEERS)
        package = command.package
        reply: PackageCreated | PackageRejected
        if package.weight_kg > MAX_WEIGHT_KG[package.size]:
            reason = f"{package.weight_kg} kg is over the {MAX_WEIGHT_KG[package.size]} kg of a {package.size} package"
            reply = PackageRejected(delivery_id=command.delivery_id, package_id=command.package_id, reason=reason)
        else:
            record = await self._store.create(command)
            if record.status == "cancelled":
                reply = PackageRejected(
                    delivery_id=command.delivery_id, package_id=command.package_id, reason="package was cancelled"
                )
            else:
                reply = PackageCreated(delivery_id=command.delivery_id, package_id=command.package_id)
        await self._broker.publish(WORKFLOW_EVENTS, outgoing(f"{type(reply).__name__}:{command.delivery_id}", reply))

    async def cancel(self, message: Message) -> None:
        command = CancelPackage.model_validate(message.body, context=FROM_PEERS)
        await self._store.cancel(command.package_id, command.delivery_id)

    def handlers(self) -> Mapping[str, Handler]:
        return {CreatePackage.__name__: self.create, CancelPackage.__name__: self.cancel}

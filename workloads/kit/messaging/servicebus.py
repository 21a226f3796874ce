"""Azure Service Bus adapter: peek-lock receivers, native DLQ and duplicate detection, Entra credential.

Queues are created by the operator with duplicate detection, `maxDeliveryCount` and `lockDuration`, so the
broker itself redelivers and dead-letters; this adapter maps the port onto the SDK and adds nothing.
"""

import json
from typing import Any

from azure.identity.aio import DefaultAzureCredential
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender

from fabrikam.workloads.kit.messaging.message import DeadLetter, Message, Received
from fabrikam.workloads.kit.metrics import PUBLISHED

# A redriven message carries its own id here: its MessageId must differ from the original's, which the
# queue's duplicate detection still remembers.
MESSAGE_ID_PROPERTY = "fabrikam-message-id"
REDRIVE_BATCH = 100
REDRIVE_WAIT_SECONDS = 5.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(message: ServiceBusReceivedMessage) -> Message:
    properties = {_text(key): _text(value) for key, value in (message.application_properties or {}).items()}
    return Message(
        id=properties.pop(MESSAGE_ID_PROPERTY, "") or _text(message.message_id),
        type=_text(message.subject),
        body=json.loads(b"".join(message.body)),
        headers=properties,
    )


def _encode(message: Message, broker_id: str | None = None) -> ServiceBusMessage:
    """`broker_id` replaces the MessageId the broker deduplicates on; the message keeps its own id."""
    properties: dict[str | bytes, Any] = {key: value for key, value in message.headers.items()}
    if broker_id is not None:
        properties[MESSAGE_ID_PROPERTY] = message.id
    return ServiceBusMessage(
        body=message.encoded_body(),
        message_id=broker_id or message.id,
        subject=message.type,
        content_type="application/json",
        application_properties=properties,
    )


class ServiceBusBroker:
    """One sender and one peek-lock receiver per queue, created on first use and kept open."""

    def __init__(self, namespace: str, credential: Any | None = None) -> None:
        self._credential = credential or DefaultAzureCredential()
        self._client = ServiceBusClient(fully_qualified_namespace=namespace, credential=self._credential)
        self._senders: dict[str, ServiceBusSender] = {}
        self._receivers: dict[str, ServiceBusReceiver] = {}

    def _sender(self, queue: str) -> ServiceBusSender:
        if queue not in self._senders:
            self._senders[queue] = self._client.get_queue_sender(queue_name=queue)
        return self._senders[queue]

    def _receiver(self, queue: str) -> ServiceBusReceiver:
        if queue not in self._receivers:
            self._receivers[queue] = self._client.get_queue_receiver(queue_name=queue, prefetch_count=0)
        return self._receivers[queue]

    async def publish(self, queue: str, message: Message) -> bool:
        """Service Bus drops duplicates silently inside its detection window, so this always says True."""
        await self._sender(queue).send_messages(_encode(message))
        PUBLISHED.labels(queue, message.type).inc()
        return True

    async def receive(self, queue: str, max_messages: int, wait_seconds: float) -> list[Received]:
        messages = await self._receiver(queue).receive_messages(
            max_message_count=max_messages, max_wait_time=wait_seconds
        )
        return [Received(queue, _decode(message), message.delivery_count or 1, message) for message in messages]

    async def complete(self, received: Received) -> None:
        await self._receiver(received.queue).complete_message(received.receipt)

    async def release(self, received: Received) -> None:
        await self._receiver(received.queue).abandon_message(received.receipt)

    async def renew_lock(self, received: Received) -> None:
        await self._receiver(received.queue).renew_message_lock(received.receipt)

    async def dead_letter(self, received: Received, reason: str, description: str) -> None:
        await self._receiver(received.queue).dead_letter_message(
            received.receipt, reason=reason, error_description=description[:1024]
        )

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        async with self._client.get_queue_receiver(
            queue_name=queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER
        ) as receiver:
            peeked = await receiver.peek_messages(max_message_count=limit)
        return [
            DeadLetter(
                _decode(message),
                _text(message.dead_letter_reason or ""),
                _text(message.dead_letter_error_description or ""),
                message.delivery_count or 0,
            )
            for message in peeked
        ]

    async def redrive(self, queue: str, limit: int = 1000) -> int:
        """Each dead letter is received under a lock, re-sent, then completed. It is re-sent under the MessageId
        `<id>:redrive:<sequence number>`, so a redrive repeated after a crash between the send and the
        completion is dropped by duplicate detection, while the handlers still see the message's own id."""
        moved = 0
        async with self._client.get_queue_receiver(
            queue_name=queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, prefetch_count=0
        ) as receiver:
            while moved < limit:
                batch = await receiver.receive_messages(
                    max_message_count=min(REDRIVE_BATCH, limit - moved), max_wait_time=REDRIVE_WAIT_SECONDS
                )
                if not batch:
                    break
                for dead in batch:
                    message = _decode(dead)
                    redriven = _encode(message, broker_id=f"{message.id}:redrive:{dead.sequence_number}")
                    await self._sender(queue).send_messages(redriven)
                    await receiver.complete_message(dead)
                    moved += 1
        return moved

    async def ping(self) -> None:
        """Opening the sender authenticates and reaches the namespace."""
        await self._sender("delivery-requests")._open()

    async def close(self) -> None:
        for handler in [*self._senders.values(), *self._receivers.values()]:
            await handler.close()
        await self._client.close()
        await self._credential.close()

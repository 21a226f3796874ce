"""Azure Service Bus adapter: peek-lock receivers, native DLQ and duplicate detection, Entra credential.

Queues are created by the operator with duplicate detection, `maxDeliveryCount` and `lockDuration`, so the
broker itself redelivers and dead-letters; this adapter maps the port onto the SDK and adds nothing.
"""

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from azure.identity.aio import DefaultAzureCredential
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.exceptions import ServiceBusError

from fabrikam.workloads.kit.messaging.message import Backlog, DeadLetter, Message, Received
from fabrikam.workloads.kit.metrics import PUBLISHED

# A redriven message carries its own id here: its MessageId must differ from the original's, which the
# queue's duplicate detection still remembers.
MESSAGE_ID_PROPERTY = "fabrikam-message-id"
REDRIVE_BATCH = 100
REDRIVE_WAIT_SECONDS = 5.0
PEEK_PAGE = 250
# A redrive of one message id looks for it among this many dead letters at most.
SCAN_LIMIT = 10_000


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


def _dead_letter(message: ServiceBusReceivedMessage) -> DeadLetter:
    return DeadLetter(
        _decode(message),
        _text(message.dead_letter_reason or ""),
        _text(message.dead_letter_error_description or ""),
        message.delivery_count or 0,
        message.enqueued_time_utc,
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

    def __init__(self, namespace: str, credential: Any | None = None, *, try_timeout_seconds: float = 5.0) -> None:
        self._credential = credential or DefaultAzureCredential()
        # Without `try_timeout` the SDK bounds no attempt of a send, a management call or a link's opening.
        self._client = ServiceBusClient(
            fully_qualified_namespace=namespace, credential=self._credential, try_timeout=try_timeout_seconds
        )
        self._senders: dict[str, ServiceBusSender] = {}
        self._receivers: dict[str, ServiceBusReceiver] = {}
        self._peekers: dict[str, ServiceBusReceiver] = {}  # a link of their own: peeks never wait on a receive

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

    async def _browse_dead_letters(self, queue: str, limit: int) -> list[ServiceBusReceivedMessage]:
        """The dead-letter sub-queue from its start, a page at a time (the receiver remembers where it got to)."""
        peeked: list[ServiceBusReceivedMessage] = []
        async with self._client.get_queue_receiver(
            queue_name=queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER
        ) as receiver:
            while len(peeked) < limit:
                page = await receiver.peek_messages(max_message_count=min(PEEK_PAGE, limit - len(peeked)))
                if not page:
                    break
                peeked.extend(page)
        return peeked

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        return [_dead_letter(message) for message in await self._browse_dead_letters(queue, limit)]

    async def dead_letter_count(self, queue: str, up_to: int = 10_000) -> int:
        """Counted by browsing, which needs only the Data Receiver role the services already have; the
        runtime-properties API would count without reading but needs the Manage right."""
        return len(await self._browse_dead_letters(queue, up_to))

    async def redrive(self, queue: str, limit: int = 1000, message_id: str | None = None) -> int:
        """Each dead letter is received under a lock, re-sent, then completed. It is re-sent under the MessageId
        `<id>:redrive:<sequence number>`, so a redrive repeated after a crash between the send and the
        completion is dropped by duplicate detection, while the handlers still see the message's own id.

        With `message_id`, the dead letters are browsed first to count that id's; the others received while
        looking are held under their lock and abandoned at the end (which adds one to their delivery count)."""
        if message_id is not None:
            found = await self._browse_dead_letters(queue, SCAN_LIMIT)
            limit = min(limit, sum(1 for dead in found if _decode(dead).id == message_id))
        moved = 0
        held: list[ServiceBusReceivedMessage] = []
        seen: set[int | None] = set()
        async with self._client.get_queue_receiver(
            queue_name=queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, prefetch_count=0
        ) as receiver:
            try:
                while moved < limit:
                    wanted = REDRIVE_BATCH if message_id is not None else min(REDRIVE_BATCH, limit - moved)
                    batch = await receiver.receive_messages(
                        max_message_count=wanted, max_wait_time=REDRIVE_WAIT_SECONDS
                    )
                    # A message seen before came back because its lock ran out while held: all was looked at.
                    if not batch or any(dead.sequence_number in seen for dead in batch):
                        held.extend(batch)
                        break
                    for dead in batch:
                        seen.add(dead.sequence_number)
                        message = _decode(dead)
                        if moved == limit or message_id not in (None, message.id):
                            held.append(dead)
                            continue
                        redriven = _encode(message, broker_id=f"{message.id}:redrive:{dead.sequence_number}")
                        await self._sender(queue).send_messages(redriven)
                        await receiver.complete_message(dead)
                        moved += 1
            finally:
                for dead in held:
                    with contextlib.suppress(ServiceBusError):
                        await receiver.abandon_message(dead)
        return moved

    async def backlog(self, queue: str) -> Backlog:
        """The oldest message's age, from a peek at the queue's first sequence number (the Data Receiver role the
        services have is enough). On a partitioned queue the broker answers with the oldest message of whichever
        partition answers first, so the age is that partition's: a lower bound. The counts would take the runtime
        properties, which need the Manage right the services are not given: Azure Monitor's own Service Bus
        metrics (ActiveMessages, DeadletteredMessages, per queue) carry them."""
        if queue not in self._peekers:
            self._peekers[queue] = self._client.get_queue_receiver(queue_name=queue, prefetch_count=0)
        oldest = await self._peekers[queue].peek_messages(max_message_count=1, sequence_number=1)
        enqueued = oldest[0].enqueued_time_utc if oldest else None
        age = (datetime.now(UTC) - enqueued).total_seconds() if enqueued is not None else 0.0
        return Backlog(waiting=None, in_flight=None, dead_lettered=None, oldest_age_seconds=max(0.0, age))

    async def ping(self) -> None:
        """Opening the sender authenticates and reaches the namespace."""
        await self._sender("delivery-requests")._open()

    async def close(self) -> None:
        for handler in [*self._senders.values(), *self._receivers.values(), *self._peekers.values()]:
            await handler.close()
        await self._client.close()
        await self._credential.close()

"""The broker contract every adapter honours; the contract test suite checks it against real brokers."""

from typing import Protocol

from fabrikam.workloads.kit.messaging.message import Backlog, DeadLetter, Message, Received


class Broker(Protocol):
    """Peek-lock queues with redelivery, dead-lettering and duplicate detection on message id."""

    async def publish(self, queue: str, message: Message) -> bool:
        """Durably enqueue; False when a message with the same id was already accepted in the window."""

    async def receive(self, queue: str, max_messages: int, wait_seconds: float) -> list[Received]:
        """Lock up to `max_messages`, waiting at most `wait_seconds` when none is available."""

    async def complete(self, received: Received) -> None:
        """The message was handled; remove it for good."""

    async def release(self, received: Received) -> None:
        """Give the message back for immediate redelivery (its delivery count grows)."""

    async def renew_lock(self, received: Received) -> None:
        """Keep the lock of a message still being handled."""

    async def dead_letter(self, received: Received, reason: str, description: str) -> None:
        """Move the message to the dead-letter queue with a reason."""

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Peek at the dead-letter queue, oldest first."""

    async def dead_letter_count(self, queue: str, up_to: int = 10_000) -> int:
        """How many messages the dead-letter queue holds, counting no further than `up_to`."""

    async def redrive(self, queue: str, limit: int = 1000, message_id: str | None = None) -> int:
        """Move up to `limit` dead letters back to the queue, oldest first, only those of `message_id` when it is
        given: same message id, type, body and headers, a fresh delivery count, the dead-letter reason dropped.
        Returns how many moved; one moved already is not moved again."""

    async def backlog(self, queue: str) -> Backlog:
        """The queue's depth and the age of its oldest message, for the consumer's gauges."""

    async def ping(self) -> None:
        """Raise when the broker cannot be reached (readiness)."""

    async def close(self) -> None:
        """Release connections."""

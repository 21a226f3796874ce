"""Messages as the services exchange them, independent of the broker that carries them."""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from fabrikam.workloads.kit import correlation, tracing


@dataclass(frozen=True)
class Message:
    """A command or event; `id` is the deduplication key, so a retried send has a single effect."""

    id: str
    type: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encoded_body(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


def outgoing(message_id: str, body: BaseModel) -> Message:
    """A message named after the model's class, carrying the current correlation id and trace context."""
    return outgoing_raw(message_id, type(body).__name__, body.model_dump(mode="json", by_alias=True))


def outgoing_raw(message_id: str, message_type: str, body: dict[str, Any]) -> Message:
    """A message from an already serialised body, with the current correlation id and trace context."""
    headers = tracing.inject({})
    if correlation_id := correlation.current.get():
        headers[correlation.HEADER] = correlation_id
    return Message(id=message_id, type=message_type, body=body, headers=headers)


@dataclass(frozen=True)
class Received:
    """A message under a lock: it must be completed, released or dead-lettered by its consumer."""

    queue: str
    message: Message
    delivery_count: int
    receipt: Any


@dataclass(frozen=True)
class DeadLetter:
    """A message that will not be processed again, with the reason operators act on.

    `enqueued_at` is how long it has been waiting: Redis Streams gives the time it was dead-lettered, Service
    Bus the time it was first enqueued (dead-lettering keeps a message's enqueued time)."""

    message: Message
    reason: str
    description: str
    delivery_count: int
    enqueued_at: datetime | None = None


@dataclass(frozen=True)
class Backlog:
    """How far behind a queue's consumers are, as the broker tells it; None where the broker does not say.

    `waiting`: not yet delivered to a consumer; `in_flight`: delivered and locked, not settled yet;
    `oldest_age_seconds`: how long the oldest message still in the queue (waiting or in flight) has been there,
    0 when it is empty."""

    waiting: int | None
    in_flight: int | None
    dead_lettered: int | None
    oldest_age_seconds: float

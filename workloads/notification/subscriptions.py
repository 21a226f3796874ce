"""Who asked to hear about a delivery, sealed at rest; the stages each delivery reached; and which
notifications already went out (or are going out now) to whom."""

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from fabrikam.workloads.contracts import FROM_PEERS, DeliveryStageChanged
from fabrikam.workloads.kit.pii import FieldCipher

RETENTION_SECONDS = 30 * 86_400
# A subscription may come before the delivery's first stage change (the customer asks right after the 202);
# one for an id that never gets a stage change is forgotten after this. The first change extends it.
PENDING_SECONDS = 7 * 86_400
STATS = "notify:stats"
# Longer than a send with its retries: a claim older than this belonged to a process that died mid-send.
CLAIM_SECONDS = 60
SENDING = "sending"
# How far along each stage is; the terminal ones last.
STAGE_ORDER = ("scheduled", "headed_to_pickup", "headed_to_dropoff", "completed", "cancelled", "failed")
CLAIM_POLL_SECONDS = 0.2


# Stores a subscription, kept for the retention when the delivery reached a stage, else while pending; atomic
# with `reached` (which extends it), so a stage change arriving meanwhile never leaves it on the short expiry.
_ADD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
else
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
"""


def latest(events: Iterable[DeliveryStageChanged]) -> DeliveryStageChanged | None:
    """The furthest stage reached; stage changes of one delivery may arrive out of order."""
    return max(events, key=lambda event: _rank(event.stage), default=None)


def _rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else -1


@dataclass(frozen=True)
class Subscription:
    key: str  # "<channel>:<digest of the recipient>": stable, and free of PII
    channel: str
    recipient: str


class Subscriptions:
    def __init__(self, redis: Redis, cipher: FieldCipher) -> None:
        self._redis = redis
        self._cipher = cipher
        self._add = redis.register_script(_ADD)

    async def add(self, delivery_id: str, channel: str, recipient: str) -> Subscription:
        key = f"{channel}:{hashlib.sha256(recipient.encode()).hexdigest()[:16]}"
        sealed = self._cipher.encrypt(recipient, f"notify:{delivery_id}:{key}")
        keys = [f"notify:subscriptions:{delivery_id}", f"notify:stages:{delivery_id}"]
        await self._add(keys=keys, args=[key, sealed, RETENTION_SECONDS, PENDING_SECONDS])
        return Subscription(key, channel, recipient)

    async def reached(self, event: DeliveryStageChanged) -> None:
        """Remember the stage (no PII), so a customer who subscribes later hears about it; the delivery now
        exists, so subscriptions made before it are kept for the full retention."""
        stages, subscribers = f"notify:stages:{event.delivery_id}", f"notify:subscriptions:{event.delivery_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(stages, event.stage, event.model_dump_json(by_alias=True))
            pipe.expire(stages, RETENTION_SECONDS)
            pipe.expire(subscribers, RETENTION_SECONDS)
            await pipe.execute()

    async def current(self, delivery_id: str) -> DeliveryStageChanged | None:
        """The furthest stage the delivery reached; None when no stage change arrived for it (yet)."""
        stored: Any = await self._redis.hvals(f"notify:stages:{delivery_id}")
        return latest(DeliveryStageChanged.model_validate_json(row, context=FROM_PEERS) for row in stored)

    async def of(self, delivery_id: str) -> list[Subscription]:
        stored: Any = await self._redis.hgetall(f"notify:subscriptions:{delivery_id}")
        return [
            Subscription(key, key.split(":", 1)[0], self._cipher.decrypt(sealed, f"notify:{delivery_id}:{key}"))
            for key, sealed in sorted(stored.items())
        ]

    async def claim(self, event_id: str, subscription: Subscription) -> bool:
        """Take the right to send this event to this recipient (True), so two handlers never both send it;
        False once it was sent, refused or skipped. A send in progress elsewhere is waited out: it ends with
        an outcome, with its claim given back, or with the claim expiring when its process died."""
        key = f"notify:sent:{event_id}:{subscription.key}"
        while not await self._redis.set(key, SENDING, nx=True, ex=CLAIM_SECONDS):
            outcome = await self._redis.get(key)
            if outcome is not None and outcome != SENDING:
                return False
            await asyncio.sleep(CLAIM_POLL_SECONDS)
        return True

    async def unclaim(self, event_id: str, subscription: Subscription) -> None:
        """The send failed for now: the broker's redelivery may try again at once."""
        await self._redis.delete(f"notify:sent:{event_id}:{subscription.key}")

    async def record(
        self, event_id: str, delivery_id: str, subscription: Subscription, stage: str, outcome: str
    ) -> None:
        """Marks the event done for this recipient (a redelivered event sends nothing) and logs it, PII-free."""
        entry = json.dumps(
            {"channel": subscription.channel, "stage": stage, "outcome": outcome, "at": datetime.now(UTC).isoformat()}
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"notify:sent:{event_id}:{subscription.key}", outcome, ex=RETENTION_SECONDS)
            pipe.rpush(f"notify:log:{delivery_id}", entry)
            pipe.expire(f"notify:log:{delivery_id}", RETENTION_SECONDS)
            pipe.hincrby(STATS, outcome, 1)
            await pipe.execute()

    async def log(self, delivery_id: str) -> list[dict[str, str]]:
        rows: Any = await self._redis.lrange(f"notify:log:{delivery_id}", 0, -1)
        return [json.loads(row) for row in rows]

    async def stats(self) -> dict[str, int]:
        stored: Any = await self._redis.hgetall(STATS)
        return {outcome: int(count) for outcome, count in stored.items()}

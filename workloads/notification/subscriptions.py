"""Who asked to hear about a delivery, sealed at rest, and which notifications already went out."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from fabrikam.workloads.kit.pii import FieldCipher

RETENTION_SECONDS = 30 * 86_400
STATS = "notify:stats"


@dataclass(frozen=True)
class Subscription:
    key: str  # "<channel>:<digest of the recipient>": stable, and free of PII
    channel: str
    recipient: str


class Subscriptions:
    def __init__(self, redis: Redis, cipher: FieldCipher) -> None:
        self._redis = redis
        self._cipher = cipher

    async def add(self, delivery_id: str, channel: str, recipient: str) -> None:
        key = f"{channel}:{hashlib.sha256(recipient.encode()).hexdigest()[:16]}"
        sealed = self._cipher.encrypt(recipient, f"notify:{delivery_id}:{key}")
        hash_key = f"notify:subscriptions:{delivery_id}"
        await self._redis.hset(hash_key, key, sealed)
        await self._redis.expire(hash_key, RETENTION_SECONDS)

    async def of(self, delivery_id: str) -> list[Subscription]:
        stored: Any = await self._redis.hgetall(f"notify:subscriptions:{delivery_id}")
        return [
            Subscription(key, key.split(":", 1)[0], self._cipher.decrypt(sealed, f"notify:{delivery_id}:{key}"))
            for key, sealed in sorted(stored.items())
        ]

    async def already_sent(self, event_id: str, subscription: Subscription) -> bool:
        return bool(await self._redis.exists(f"notify:sent:{event_id}:{subscription.key}"))

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

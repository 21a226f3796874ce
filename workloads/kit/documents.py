"""Versioned JSON documents in Redis with compare-and-set, so concurrent handlers never lose an update.

A write succeeds only against the version it read; losers re-read and re-decide. Events appended with a
write land atomically with it (one Lua script), in a list capped to bound memory, and so do outbox entries:
messages a relay sends after the write, so a crash between the write and the send loses nothing.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis

from fabrikam.workloads.contracts import FROM_PEERS
from fabrikam.workloads.kit import turn_pipeline

M = TypeVar("M", bound=BaseModel)

_SAVE = """
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', version + 1, 'doc', ARGV[2])
local last_event = 5 + tonumber(ARGV[5])
for i = 6, last_event do redis.call('RPUSH', KEYS[2], ARGV[i]) end
if last_event >= 6 then redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1) end
for i = last_event + 1, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
if tonumber(ARGV[4]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return 1
"""


class ConcurrentUpdate(Exception):
    """Another writer kept winning; the caller's message is released and retried later."""


@dataclass(frozen=True)
class Versioned(Generic[M]):
    document: M
    version: int


@dataclass(frozen=True)
class Write(Generic[M]):
    """A decision to write: the document, events to append, and outbox entries (key → encoded message)."""

    document: M
    events: Sequence[str] = ()
    outbox: Mapping[str, str] = field(default_factory=dict)


Decision = tuple[M, Sequence[str]] | Write[M] | None


class VersionedDocuments(Generic[M]):
    """Documents of one model under `prefix:{id}`, with an optional event list under `prefix:{id}:events`."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        model: type[M],
        *,
        max_events: int = 1000,
        retention: Callable[[M], int | None] = lambda _: None,
    ) -> None:
        """`retention` gives the seconds a document (say, a finished one) is kept; None keeps it."""
        self._redis = redis
        self._retention = retention
        self._prefix = prefix
        self._model = model
        self._max_events = max_events
        self._save = redis.register_script(_SAVE)
        self._turn = turn_pipeline.shared(redis)  # loads and saves of concurrent handlers share round trips

    @property
    def outbox_key(self) -> str:
        """The hash holding outbox entries until a relay has sent them (see `kit/messaging/outbox.py`)."""
        return f"outbox:{self._prefix}"

    def _key(self, document_id: str) -> str:
        return f"{self._prefix}:{document_id}"

    async def load(self, document_id: str) -> Versioned[M] | None:
        stored: Any = await self._turn.execute("HMGET", self._key(document_id), "version", "doc")
        version, document = stored
        if document is None:
            return None
        return Versioned(self._model.model_validate_json(document, context=FROM_PEERS), int(version))

    async def save(
        self,
        document_id: str,
        document: M,
        expected_version: int,
        events: Sequence[str] = (),
        outbox: Mapping[str, str] | None = None,
    ) -> bool:
        saved = await self._turn.script(
            self._save,
            [self._key(document_id), f"{self._key(document_id)}:events", self.outbox_key],
            [
                expected_version,
                document.model_dump_json(by_alias=True),
                self._max_events,
                self._retention(document) or 0,
                len(events),
                *events,
                *(part for entry in (outbox or {}).items() for part in entry),
            ],
        )
        return bool(saved)

    async def events(self, document_id: str, limit: int = 1000) -> list[str]:
        rows: Any = await self._redis.lrange(f"{self._key(document_id)}:events", -limit, -1)
        return list(rows)

    async def update(
        self,
        document_id: str,
        decide: Callable[[Versioned[M] | None], Decision[M]],
        attempts: int = 50,
    ) -> M | None:
        """Read, decide, compare-and-set; `decide` returning None means nothing changes."""
        for _ in range(attempts):
            current = await self.load(document_id)
            decision = decide(current)
            if decision is None:
                return current.document if current else None
            write = decision if isinstance(decision, Write) else Write(*decision)
            expected = current.version if current else 0
            if await self.save(document_id, write.document, expected, write.events, write.outbox):
                return write.document
        raise ConcurrentUpdate(f"{self._prefix}:{document_id} changed {attempts} times while deciding")

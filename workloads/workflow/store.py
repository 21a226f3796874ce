"""Where sagas live: a versioned document per delivery, and a sorted set of the deadlines of pending steps.

The store remembers the last saga version it wrote, so a delivery's next message is decided without reading
it back; the compare-and-set refuses a stale version (another replica moved the saga on), and a decision to
change nothing is checked against Redis before it counts. The cache saves a round trip per message and never
changes an outcome.
"""

from collections import OrderedDict
from collections.abc import Callable

from redis.asyncio import Redis

from fabrikam.workloads.kit import turn_pipeline
from fabrikam.workloads.kit.documents import ConcurrentUpdate, Versioned, VersionedDocuments
from fabrikam.workloads.workflow.saga import Command, Saga, StepPolicy, step_deadline

DEADLINES = "workflow:step-deadlines"

Decision = Callable[[Saga | None], tuple[Saga, list[Command]] | None]


class SagaStore:
    """Read-decide-write of sagas, keeping each saga's step deadline in `DEADLINES` (epoch seconds)."""

    def __init__(
        self,
        documents: VersionedDocuments[Saga],
        redis: Redis,
        policy: StepPolicy,
        cache_size: int = 4096,
        attempts: int = 50,
    ) -> None:
        self._documents = documents
        self._policy = policy
        self._cache: OrderedDict[str, Versioned[Saga]] = OrderedDict()
        self._cache_size = cache_size
        self._attempts = attempts
        self._turn = turn_pipeline.shared(redis)  # deadline writes of concurrent handlers share round trips

    async def apply(self, delivery_id: str, decide: Decision) -> tuple[Saga | None, list[Command] | None]:
        """The saga after the decision and the commands decided (None when nothing changed).

        A saga not in the cache is first assumed new, which is what the first message of a delivery finds;
        the compare-and-set of version 0 disproves that when it exists.
        """
        current = self._cache.pop(delivery_id, None)
        verified = False
        for _ in range(self._attempts):
            before = current.document if current else None
            outcome = decide(before)
            if outcome is None:
                if not verified:
                    current, verified = await self._documents.load(delivery_id), True
                    continue
                if current is not None:
                    self._remember(delivery_id, current)
                return before, None
            saga, commands = outcome
            version = current.version if current else 0
            if await self._documents.save(delivery_id, saga, version):
                self._remember(delivery_id, Versioned(saga, version + 1))
                waited = before is not None and step_deadline(before, self._policy) is not None
                if waited != (step_deadline(saga, self._policy) is not None):
                    await self.sync_deadline(saga)
                return saga, commands
            current, verified = await self._documents.load(delivery_id), True
        raise ConcurrentUpdate(f"saga {delivery_id} changed {self._attempts} times while deciding")

    async def sync_deadline(self, saga: Saga) -> None:
        """Make the saga's entry in `DEADLINES` match its current step (idempotent).

        `apply` writes the entry only when the saga starts or stops waiting: a later step's deadline is
        later, so the entry of the first step makes the timer fire early at worst, and the timeout it sends
        finds the saga not due and calls this. That is two writes per delivery instead of one per step.
        Written after the saga, so a crash in between leaves the message unacknowledged: its redelivery
        calls this again. Two handlers of one saga may write out of order; a stale entry also only makes
        the timer fire early, or for a saga that waits for nothing, which this then removes.
        """
        deadline = step_deadline(saga, self._policy)
        if deadline is None:
            await self._turn.execute("ZREM", DEADLINES, saga.delivery_id)
        else:
            await self._turn.execute("ZADD", DEADLINES, deadline.timestamp(), saga.delivery_id)

    def _remember(self, delivery_id: str, versioned: Versioned[Saga]) -> None:
        self._cache[delivery_id] = versioned
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

"""Redis commands issued in the same event-loop turn travel as one pipeline: one round trip, no added wait.

Under load many handlers run side by side, and redis-py's per-command overhead (pool checkout, retry
wrapper, timeout, a write and a read each) costs more CPU than the commands themselves. Each caller still
awaits its own command's answer or error, so durability and error handling are what they were; the commands
of a pipeline are independent (no transaction), as separate calls would be.
"""

import weakref
from dataclasses import dataclass
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from fabrikam.workloads.kit.turn_batch import TurnBatch


@dataclass(frozen=True)
class _Call:
    args: tuple[Any, ...]
    script: AsyncScript | None


class TurnPipeline:
    """Collects the calls of one loop turn and sends them together once the turn ends."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._batch: TurnBatch[_Call, Any] = TurnBatch(self._run)

    async def execute(self, *args: Any) -> Any:
        """One command, e.g. `execute("ZADD", key, score, member)`; its answer is parsed as redis-py does."""
        return await self._batch.submit(_Call(args, None))

    async def script(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
        """Run a registered script; Redis reloads it when it forgot it (after a restart)."""
        return await self._batch.submit(_Call(("EVALSHA", script.sha, len(keys), *keys, *args), script))

    async def _run(self, batch: list[_Call]) -> list[Any]:
        if len(batch) == 1:  # alone in its turn: a plain call, the cheapest way
            call = batch[0]
            if call.script is None:
                return [await self._redis.execute_command(*call.args)]  # type: ignore[no-untyped-call]
            count = call.args[2]
            keys, args = list(call.args[3 : 3 + count]), list(call.args[3 + count :])
            return [await call.script(keys=keys, args=args)]  # reloads a forgotten script itself
        async with self._redis.pipeline(transaction=False) as pipe:
            for call in batch:
                pipe.execute_command(*call.args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, result in enumerate(results) if isinstance(result, redis_errors.NoScriptError)]
        if missing:  # Redis restarted and forgot scripts: none of these ran, so they run once now
            for script in {id(batch[i].script): batch[i].script for i in missing}.values():
                assert script is not None
                await self._redis.script_load(script.script)
            retried = await self._run([batch[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results


_shared: "weakref.WeakKeyDictionary[Redis, TurnPipeline]" = weakref.WeakKeyDictionary()


def shared(redis: Redis) -> TurnPipeline:
    """The one turn pipeline of this client: the calls of every module in a turn (saga saves, publishes,
    deadline writes) then share a single round trip instead of one per module."""
    turn = _shared.get(redis)
    if turn is None:
        turn = _shared[redis] = TurnPipeline(redis)
    return turn

"""Redis commands issued in the same event-loop turn travel as one pipeline: one round trip, no added wait.

Under load many handlers run side by side, and redis-py's per-command overhead (pool checkout, retry
wrapper, timeout, a write and a read each) costs more CPU than the commands themselves. Each caller still
awaits its own command's answer or error, so durability and error handling are what they were; the commands
of a pipeline are independent (no transaction), as separate calls would be.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript


@dataclass(frozen=True)
class _Call:
    args: tuple[Any, ...]
    script: AsyncScript | None
    answer: "asyncio.Future[Any]"


class TurnPipeline:
    """Collects the calls of one loop turn and sends them together once the turn ends."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._open: list[_Call] | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def execute(self, *args: Any) -> Any:
        """One command, e.g. `execute("ZADD", key, score, member)`; its answer is parsed as redis-py does."""
        return await self._queue(_Call(args, None, asyncio.get_running_loop().create_future()))

    async def script(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
        """Run a registered script; Redis reloads it when it forgot it (after a restart)."""
        call_args = ("EVALSHA", script.sha, len(keys), *keys, *args)
        return await self._queue(_Call(call_args, script, asyncio.get_running_loop().create_future()))

    async def _queue(self, call: _Call) -> Any:
        if self._open is None:
            self._open = []
            asyncio.get_running_loop().call_soon(self._flush)
        self._open.append(call)
        return await call.answer

    def _flush(self) -> None:
        batch, self._open = self._open or [], None
        task = asyncio.ensure_future(self._settle(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _settle(self, batch: list[_Call]) -> None:
        try:
            results = await self._run(batch)
        except asyncio.CancelledError:
            for call in batch:
                call.answer.cancel()
            raise
        except Exception as error:
            for call in batch:
                if not call.answer.done():
                    call.answer.set_exception(error)
            return
        for call, result in zip(batch, results, strict=True):
            if call.answer.done():  # its caller was cancelled
                continue
            if isinstance(result, Exception):
                call.answer.set_exception(result)
            else:
                call.answer.set_result(result)

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

"""Work submitted in the same event-loop turn is carried out as one batch: one round trip, no added wait.

Under load many handlers run side by side, and a driver's per-call overhead often costs more CPU than the work
itself. The batch is sent as soon as the turn ends; each submitter still awaits its own result or error, so
nothing is answered earlier, and one item's failure stays its own.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class _Pending(Generic[Item, Result]):
    item: Item
    answer: "asyncio.Future[Result]"


class TurnBatch(Generic[Item, Result]):
    """`run` gets the items of one turn and returns, in order, each item's result or the exception it ended in;
    an exception `run` raises fails every item of the batch."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[list[Result | Exception]]]) -> None:
        self._run = run
        self._open: list[_Pending[Item, Result]] | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        if self._open is None:
            self._open = []
            loop.call_soon(self._flush)
        pending: _Pending[Item, Result] = _Pending(item, loop.create_future())
        self._open.append(pending)
        return await pending.answer

    def _flush(self) -> None:
        batch, self._open = self._open or [], None
        task = asyncio.ensure_future(self._settle(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _settle(self, batch: list[_Pending[Item, Result]]) -> None:
        try:
            outcomes = await self._run([pending.item for pending in batch])
        except asyncio.CancelledError:
            for pending in batch:
                pending.answer.cancel()
            raise
        except Exception as error:
            outcomes = [error] * len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.answer.done():  # its submitter was cancelled
                continue
            if isinstance(outcome, Exception):
                pending.answer.set_exception(outcome)
            else:
                pending.answer.set_result(outcome)

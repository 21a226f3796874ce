"""Inserts made in one event-loop turn go to MongoDB as one unordered `insert_many`: one command, not many.

Each document is still inserted on its own terms: a duplicate key refuses only that document, and each
caller learns its own outcome once the server has answered, so a create is as durable as with `insert_one`.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class _Insert:
    document: dict[str, Any]
    inserted: "asyncio.Future[bool]"


class TurnInserts:
    """`insert` answers True when the document was inserted, False when its `_id` already existed."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection
        self._open: list[_Insert] | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def insert(self, document: dict[str, Any]) -> bool:
        loop = asyncio.get_running_loop()
        if self._open is None:
            self._open = []
            loop.call_soon(self._flush)
        pending = _Insert(document, loop.create_future())
        self._open.append(pending)
        return await pending.inserted

    def _flush(self) -> None:
        batch, self._open = self._open or [], None
        task = asyncio.ensure_future(self._settle(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _settle(self, batch: list[_Insert]) -> None:
        try:
            outcomes = await self._run(batch)
        except asyncio.CancelledError:
            for pending in batch:
                pending.inserted.cancel()
            raise
        except Exception as error:
            outcomes = [error] * len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.inserted.done():  # its caller was cancelled
                continue
            if isinstance(outcome, Exception):
                pending.inserted.set_exception(outcome)
            else:
                pending.inserted.set_result(outcome)

    async def _run(self, batch: list[_Insert]) -> list[bool | Exception]:
        if len(batch) == 1:
            try:
                await self._collection.insert_one(batch[0].document)
            except DuplicateKeyError:
                return [False]
            return [True]
        try:
            await self._collection.insert_many([pending.document for pending in batch], ordered=False)
        except BulkWriteError as error:
            if error.details.get("writeConcernErrors"):
                raise
            refused = {int(failure["index"]): failure for failure in error.details.get("writeErrors", [])}
            return [_outcome(refused.get(index)) for index in range(len(batch))]
        return [True] * len(batch)


def _outcome(failure: dict[str, Any] | None) -> bool | Exception:
    """Inserted (no failure), already there (duplicate key), or the server's error for this document."""
    if failure is None:
        return True
    if failure["code"] == DUPLICATE_KEY:
        return False
    return OperationFailure(failure.get("errmsg", "insert failed"), failure["code"])

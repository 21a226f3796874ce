"""Inserts made in one event-loop turn go to MongoDB as one unordered `insert_many`: one command, not many.

Each document is still inserted on its own terms: a duplicate key refuses only that document, and each
caller learns its own outcome once the server has answered, so a create is as durable as with `insert_one`.
"""

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from fabrikam.workloads.kit.turn_batch import TurnBatch

DUPLICATE_KEY = 11000


class TurnInserts:
    """`insert` answers True when the document was inserted, False when its `_id` already existed."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection
        self._batch: TurnBatch[dict[str, Any], bool] = TurnBatch(self._run)

    async def insert(self, document: dict[str, Any]) -> bool:
        return await self._batch.submit(document)

    async def _run(self, batch: list[dict[str, Any]]) -> list[bool | Exception]:
        if len(batch) == 1:
            try:
                await self._collection.insert_one(batch[0])
            except DuplicateKeyError:
                return [False]
            return [True]
        try:
            await self._collection.insert_many(batch, ordered=False)
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

"""TurnBatch: what is submitted in one event-loop turn runs as one batch, each submitter gets its own outcome."""

import asyncio

import pytest

from fabrikam.workloads.kit.turn_batch import TurnBatch


async def test_one_turn_is_one_batch_and_each_submitter_gets_its_own_result_or_error() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    batch: TurnBatch[int, int] = TurnBatch(run)
    outcomes = await asyncio.gather(*(batch.submit(i) for i in range(4)), return_exceptions=True)
    later = await batch.submit(6)

    assert batches == [[0, 1, 2, 3], [6]]
    assert outcomes[0] == 0
    assert outcomes[2] == 20
    assert [str(o) for o in outcomes[1::2]] == ["odd 1", "odd 3"]
    assert later == 60


async def test_a_failing_run_fails_every_item_of_its_batch_only() -> None:
    calls = 0

    async def run(items: list[str]) -> list[str | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("server gone")
        return items

    batch: TurnBatch[str, str] = TurnBatch(run)
    first = await asyncio.gather(batch.submit("a"), batch.submit("b"), return_exceptions=True)

    assert [type(o) for o in first] == [ConnectionError, ConnectionError]
    assert await batch.submit("c") == "c"


async def test_a_cancelled_submitter_does_not_disturb_the_others() -> None:
    release = asyncio.Event()

    async def run(items: list[int]) -> list[int | Exception]:
        await release.wait()
        return items

    batch: TurnBatch[int, int] = TurnBatch(run)
    cancelled = asyncio.ensure_future(batch.submit(1))
    kept = asyncio.ensure_future(batch.submit(2))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()

    assert await kept == 2
    with pytest.raises(asyncio.CancelledError):
        await cancelled

"""Redis calls made in one event-loop turn share one pipeline; each caller still gets its own answer."""

import asyncio

from redis.asyncio import Redis

from fabrikam.workloads.kit import turn_pipeline
from fabrikam.workloads.kit.messaging.message import Message
from fabrikam.workloads.kit.turn_pipeline import TurnPipeline

from .conftest import make_broker


def message(index: int) -> Message:
    return Message(id=f"m-{index}", type="Ping", body={"n": index})


async def test_concurrent_publishes_each_get_their_own_answer_and_all_land_in_order(redis: Redis) -> None:
    broker = make_broker(redis)
    assert await broker.publish("q", message(3))
    answers = await asyncio.gather(*(broker.publish("q", message(index)) for index in range(50)))
    assert answers == [index != 3 for index in range(50)]  # m-3 was a duplicate
    received = await broker.receive("q", 100, wait_seconds=0.1)
    assert [r.message.id for r in received] == ["m-3", *(f"m-{i}" for i in range(50) if i != 3)]


async def test_a_batch_after_redis_forgot_its_scripts_is_published_once(redis: Redis) -> None:
    broker = make_broker(redis)
    assert await broker.publish("q", message(0))
    await redis.script_flush()  # what a Redis restart does
    answers = await asyncio.gather(*(broker.publish("q", message(index)) for index in range(1, 21)))
    assert answers == [True] * 20
    assert await redis.xlen("queue:q") == 21


async def test_a_failed_batch_fails_every_caller(redis: Redis) -> None:
    broker = make_broker(redis)
    await redis.set("queue:q", "not a stream")
    outcomes = await asyncio.gather(*(broker.publish("q", message(i)) for i in range(5)), return_exceptions=True)
    assert all(isinstance(outcome, Exception) and "WRONGTYPE" in str(outcome) for outcome in outcomes)


async def test_commands_of_one_turn_run_once_each_and_fail_alone(redis: Redis) -> None:
    turn = TurnPipeline(redis)
    await redis.set("text", "not a set")
    before = int((await redis.info("stats"))["total_commands_processed"])
    answers = await asyncio.gather(
        turn.execute("ZADD", "deadlines", 5, "a"),
        turn.execute("ZADD", "text", 1, "b"),
        turn.execute("HMGET", "missing", "version", "doc"),
        return_exceptions=True,
    )
    assert answers[0] == 1
    assert isinstance(answers[1], Exception)
    assert "WRONGTYPE" in str(answers[1])
    assert answers[2] == [None, None]
    assert int((await redis.info("stats"))["total_commands_processed"]) - before == 3 + 1  # and the INFO


async def test_every_user_of_a_client_shares_one_round_trip_per_turn(redis: Redis) -> None:
    broker = make_broker(redis)
    opened: list[object] = []
    pipeline = redis.pipeline

    def counted(*args: object, **kwargs: object) -> object:
        opened.append(args)
        return pipeline(*args, **kwargs)  # type: ignore[arg-type]

    redis.pipeline = counted  # type: ignore[method-assign,assignment]
    try:
        published, added = await asyncio.gather(
            broker.publish("q", message(1)), turn_pipeline.shared(redis).execute("ZADD", "deadlines", 5, "a")
        )
    finally:
        del redis.pipeline
    assert (published, added) == (True, 1)
    assert len(opened) == 1

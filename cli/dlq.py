"""`fabrikam dlq`: look at dead-lettered messages and send them back to their queue, on Redis Streams or Service
Bus, configured as the services are (`FABRIKAM_BROKER`, `FABRIKAM_REDIS_URL`, `FABRIKAM_SERVICEBUS_NAMESPACE`...).

The services dead-letter a message their handler refuses for good, and the broker one delivered
`maxDeliveryCount` times; docs/runbooks/dead-letters.md says what to do then."""

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import typer

from fabrikam.workloads.contracts import QUEUES
from fabrikam.workloads.kit.messaging import dead_letters, factory
from fabrikam.workloads.kit.messaging.dead_letters import QueueDeadLetters
from fabrikam.workloads.kit.messaging.message import DeadLetter
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.settings import NotConfigured, ServiceSettings

T = TypeVar("T")

# Service Bus counts dead letters by browsing them: the summary stops counting here.
COUNT_UP_TO = 10_000
# `show` looks for the id among this many dead letters of each queue.
SCAN_LIMIT = 10_000

app = typer.Typer(
    help="Dead-lettered messages: list them, show one, redrive them to their queue (the services' FABRIKAM_* "
    "settings say which broker).",
    no_args_is_help=True,
)


def _with_broker(work: Callable[[Broker], Awaitable[T]]) -> T:
    settings = ServiceSettings(service="fabrikam-dlq")

    async def run() -> T:
        async with factory.standalone(settings) as broker:
            return await work(broker)

    try:
        return asyncio.run(run())
    except NotConfigured as error:
        typer.echo(f"{error} (as for the services)", err=True)
        raise typer.Exit(2) from error


async def _summaries(broker: Broker, queues: Sequence[str]) -> list[QueueDeadLetters]:
    summaries = []
    for queue in queues:
        count = await broker.dead_letter_count(queue, COUNT_UP_TO)
        oldest = await broker.dead_letters(queue, 1) if count else []
        summaries.append(QueueDeadLetters(queue, count, count >= COUNT_UP_TO, oldest[0] if oldest else None))
    return summaries


async def _find(broker: Broker, queues: Sequence[str], message_id: str) -> list[tuple[str, DeadLetter]]:
    found: list[tuple[str, DeadLetter]] = []
    for queue in queues:
        letters = await broker.dead_letters(queue, SCAN_LIMIT)
        found.extend((queue, letter) for letter in letters if letter.message.id == message_id)
    return found


@app.command(name="list")
def list_dead_letters(
    queue: str | None = typer.Argument(None, help="List this queue's dead letters; without it, every queue's count."),
    limit: int = typer.Option(100, min=1, help="With QUEUE: list at most this many, oldest first."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """How many dead letters each queue holds and its oldest; or, for QUEUE, its dead letters, oldest first."""
    now = datetime.now(UTC)
    if queue is None:
        summaries = _with_broker(lambda broker: _summaries(broker, QUEUES))
        if as_json:
            typer.echo(json.dumps(dead_letters.summary(summaries)))
        else:
            typer.echo(dead_letters.summary_table(summaries, now))
        return
    letters = _with_broker(lambda broker: broker.dead_letters(queue, limit))
    if as_json:
        typer.echo(json.dumps([dead_letters.entry(letter) for letter in letters]))
    else:
        typer.echo(dead_letters.letters_table(letters, now))


@app.command()
def show(
    message_id: str = typer.Argument(..., metavar="ID", help="The message id (the `messageId` the services log)."),
    queue: str | None = typer.Option(None, "--queue", "-q", help="Look only in this queue's dead letters."),
) -> None:
    """The dead letters with this message id: queue, reason, description, delivery count, headers and body (JSON)."""
    queues = [queue] if queue else list(QUEUES)
    found = _with_broker(lambda broker: _find(broker, queues, message_id))
    if not found:
        typer.echo(f"no dead letter with id {message_id!r} in {', '.join(queues)}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps([dead_letters.detail(where, letter) for where, letter in found], indent=2))


@app.command()
def redrive(
    queue: str = typer.Argument(..., help="The queue whose dead letters go back to it."),
    message_id: str | None = typer.Option(None, "--id", help="Only the dead letters with this message id."),
    everything: bool = typer.Option(False, "--all", help="Every dead letter of the queue (up to --limit)."),
    limit: int = typer.Option(1000, min=1, help="Move at most this many, oldest first."),
) -> None:
    """Send dead letters back to their queue and remove them from the dead-letter queue; print how many moved.

    They go back with a fresh delivery count; one moved already is not moved again, so a rerun is harmless."""
    if (message_id is None) == (not everything):
        typer.echo("say which: --id ID or --all", err=True)
        raise typer.Exit(2)
    moved = _with_broker(lambda broker: broker.redrive(queue, limit, message_id))
    typer.echo(json.dumps({"queue": queue, "moved": moved}))

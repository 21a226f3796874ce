"""What operators see of dead letters (`fabrikam dlq`): pure views of what a broker returned, as JSON-ready
dictionaries and as text tables. The broker calls are the command's; nothing here does I/O."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fabrikam.workloads.kit.messaging.message import DeadLetter


@dataclass(frozen=True)
class QueueDeadLetters:
    """One queue's dead-letter queue at a glance; when `capped`, counting stopped at the limit and there are more."""

    queue: str
    count: int
    capped: bool
    oldest: DeadLetter | None


def entry(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter in a listing: what identifies it and why it is there, not its body."""
    return {
        "id": letter.message.id,
        "type": letter.message.type,
        "reason": letter.reason,
        "description": letter.description,
        "deliveryCount": letter.delivery_count,
        "enqueuedAt": letter.enqueued_at.isoformat() if letter.enqueued_at else None,
    }


def detail(queue: str, letter: DeadLetter) -> dict[str, Any]:
    """Everything about one dead letter: the listing's fields plus its queue, headers and body."""
    return {"queue": queue, **entry(letter), "headers": letter.message.headers, "body": letter.message.body}


def summary(queues: Sequence[QueueDeadLetters]) -> list[dict[str, Any]]:
    return [
        {
            "queue": queue.queue,
            "count": queue.count,
            "capped": queue.capped,
            "oldest": entry(queue.oldest) if queue.oldest else None,
        }
        for queue in queues
    ]


def age(since: datetime | None, now: datetime) -> str:
    """`3d4h`, `2h5m`, `4m10s`, `12s`: how long a dead letter has waited, to the two largest units."""
    if since is None:
        return "-"
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    while len(units) > 1 and units[0][0] == 0:
        units.pop(0)
    return "".join(f"{value}{unit}" for value, unit in units[:2])


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def summary_table(queues: Sequence[QueueDeadLetters], now: datetime) -> str:
    """Per queue: how many dead letters, and the oldest one's age, id and reason."""
    rows = []
    for queue in queues:
        count = f"{queue.count}+" if queue.capped else str(queue.count)
        oldest = queue.oldest
        if oldest is None:
            rows.append([queue.queue, count, "", "", ""])
        else:
            rows.append([queue.queue, count, age(oldest.enqueued_at, now), oldest.message.id, oldest.reason])
    return _table(["QUEUE", "DEAD", "OLDEST", "OLDEST ID", "REASON"], rows)


def _letter_row(letter: DeadLetter, now: datetime) -> list[str]:
    message = letter.message
    return [age(letter.enqueued_at, now), message.id, message.type, str(letter.delivery_count), letter.reason]


def letters_table(letters: Sequence[DeadLetter], now: datetime) -> str:
    """One queue's dead letters, oldest first."""
    rows = [_letter_row(letter, now) for letter in letters]
    return _table(["AGE", "ID", "TYPE", "DELIVERIES", "REASON"], rows)

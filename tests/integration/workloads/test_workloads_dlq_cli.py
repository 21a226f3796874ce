"""`fabrikam dlq` on real Redis Streams, against the notification service running as its own process.

A stage change the service cannot send (its SMTP server is down) is redelivered until it passes
`maxDeliveryCount` and is dead-lettered; one with an invalid body is dead-lettered at once. `fabrikam dlq list` and
`show` see both with their reasons, the service's log says why the first kept failing, the SMTP server is
started (the fix), `fabrikam dlq redrive --id` sends that one back and it completes: the email goes out once.
The invalid one stays where it is. The CLI runs as a command, configured only by the services' variables.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, Service, free_port
from fabrikam.workloads.contracts import NOTIFICATION_EVENTS, QUEUES, DeliveryStageChanged
from fabrikam.workloads.kit import correlation
from fabrikam.workloads.kit.messaging.message import Message, outgoing

from .conftest import eventually, make_broker
from .test_workloads_notification import Inbox

FABRIKAM = Path(sys.executable).with_name("fabrikam")
POISONED = "DeliveryStageChanged:d-dlq:completed"
INVALID = "DeliveryStageChanged:d-bad:completed"


def dlq(redis_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`fabrikam dlq ...` as an operator runs it, with the services' settings in its environment."""
    environment = {**os.environ, "FABRIKAM_REDIS_URL": redis_url, "PYTHONSAFEPATH": "1"}
    return subprocess.run(
        [str(FABRIKAM), "dlq", *arguments], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def notification(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Service, int]]:
    """The notification service as `fabrikam-svc notification`, its SMTP port with nothing listening yet."""
    smtp_port = free_port()
    service = Service(
        "notification",
        tmp_path,
        {
            "FABRIKAM_REDIS_URL": redis_server.url,
            "FABRIKAM_SMTP_HOST": "127.0.0.1",
            "FABRIKAM_SMTP_PORT": str(smtp_port),
            "FABRIKAM_PII_KEY_FILE": str(tmp_path / "pii.key"),
            "FABRIKAM_MAX_DELIVERY_COUNT": "2",  # fewer failures than open the email breaker
            "FABRIKAM_LOCK_SECONDS": "0.5",
            "FABRIKAM_OUTBOUND_TIMEOUT_SECONDS": "1",
            "FABRIKAM_LOG_LEVEL": "INFO",
        },
    )
    service.start()
    try:
        service.wait_ready()
        yield service, smtp_port
    finally:
        service.process.stop()


async def test_a_dead_lettered_message_is_listed_shown_and_redriven_to_completion_once_its_cause_is_fixed(
    redis_server: RedisServer, redis: Redis, notification: tuple[Service, int]
) -> None:
    service, smtp_port = notification
    started = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        subscribed = await api.post("/v1/deliveries/d-dlq/notify-me", json={"email": "di@contoso.example"})
        assert subscribed.status_code == 202, subscribed.text
    broker = make_broker(redis)
    event = DeliveryStageChanged(delivery_id="d-dlq", stage="completed", at=started)
    token = correlation.current.set("request-42")
    try:
        await broker.publish(NOTIFICATION_EVENTS, outgoing(POISONED, event))
    finally:
        correlation.current.reset(token)
    await broker.publish(NOTIFICATION_EVENTS, Message(INVALID, "DeliveryStageChanged", {"deliveryId": "d-bad"}))

    async def both_dead_lettered() -> bool:
        return await redis.xlen(f"queue:{NOTIFICATION_EVENTS}:deadletter") == 2

    await eventually(both_dead_lettered, within=60)

    # list: every queue's count and oldest; the table says the same as the JSON.
    summary = {row["queue"]: row for row in output(dlq(redis_server.url, "list", "--json"))}
    assert set(summary) == set(QUEUES)
    assert {queue: row["count"] for queue, row in summary.items() if row["count"]} == {NOTIFICATION_EVENTS: 2}
    assert summary[NOTIFICATION_EVENTS]["oldest"]["id"] in (POISONED, INVALID)
    table = dlq(redis_server.url, "list")
    assert table.returncode == 0, table.stderr
    line = next(row for row in table.stdout.splitlines() if row.startswith(NOTIFICATION_EVENTS))
    assert line.split()[1] == "2"

    # list QUEUE: each dead letter with its reason, oldest first.
    letters = {letter["id"]: letter for letter in output(dlq(redis_server.url, "list", NOTIFICATION_EVENTS, "--json"))}
    assert set(letters) == {POISONED, INVALID}
    assert (letters[POISONED]["reason"], letters[POISONED]["deliveryCount"]) == ("MaxDeliveryCountExceeded", 3)
    assert letters[POISONED]["description"] == "delivered 3 times; maxDeliveryCount is 2"
    assert letters[INVALID]["reason"] == "InvalidBody"
    assert "stage" in letters[INVALID]["description"]
    dead_lettered_at = datetime.fromisoformat(letters[POISONED]["enqueuedAt"])
    assert started - timedelta(seconds=1) <= dead_lettered_at <= datetime.now(UTC)

    # show ID: body, headers and reason; the service's log says what kept failing.
    (shown,) = output(dlq(redis_server.url, "show", POISONED))
    assert shown["queue"] == NOTIFICATION_EVENTS
    assert shown["reason"] == "MaxDeliveryCountExceeded"
    assert (shown["body"]["deliveryId"], shown["body"]["stage"]) == ("d-dlq", "completed")
    assert shown["headers"][correlation.HEADER] == "request-42"
    failures = [
        json.loads(row)
        for row in service.log_path.read_text().splitlines()
        if row.startswith("{") and POISONED in row and "released for redelivery" in row
    ]
    assert failures
    assert "SMTP unreachable" in failures[-1]["error"]
    missing = dlq(redis_server.url, "show", "DeliveryStageChanged:nowhere:completed")
    assert missing.returncode == 1
    assert "no dead letter with id" in missing.stderr

    # The fix: the SMTP server is up. Then the redrive, which must say which messages.
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert dlq(redis_server.url, "redrive", NOTIFICATION_EVENTS).returncode == 2
        assert output(dlq(redis_server.url, "redrive", NOTIFICATION_EVENTS, "--id", POISONED)) == {
            "queue": NOTIFICATION_EVENTS,
            "moved": 1,
        }

        async def emailed() -> bool:
            return len(inbox.messages) == 1

        async def completed() -> bool:
            return not await redis.xlen(f"queue:{NOTIFICATION_EVENTS}")

        await eventually(emailed, within=30)
        await eventually(completed, within=30)
        again = output(dlq(redis_server.url, "redrive", NOTIFICATION_EVENTS, "--id", POISONED))
        assert again == {"queue": NOTIFICATION_EVENTS, "moved": 0}
    finally:
        controller.stop()
    assert [(m["To"], m["Subject"]) for m in inbox.messages] == [
        ("di@contoso.example", "Delivery d-dlq: your package was delivered")
    ]
    remaining = output(dlq(redis_server.url, "list", NOTIFICATION_EVENTS, "--json"))
    assert [(letter["id"], letter["reason"]) for letter in remaining] == [(INVALID, "InvalidBody")]
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        sent = (await api.get("/v1/deliveries/d-dlq/notifications")).json()
    assert [(entry["channel"], entry["outcome"]) for entry in sent] == [("email", "sent")]

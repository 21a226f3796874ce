"""The notification service against a real SMTP server (aiosmtpd) and a local HTTP double of Twilio's API."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message as Email
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from purgatory.domain.model import OpenedState
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, free_port
from fabrikam.workloads.contracts import DeliveryStageChanged
from fabrikam.workloads.kit.messaging.message import Message, outgoing
from fabrikam.workloads.kit.pii import FieldCipher
from fabrikam.workloads.kit.resilience import TransientError, circuit_breakers
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.notification.channels import Resilient, SmtpEmail, TwilioSms
from fabrikam.workloads.notification.handlers import NotificationHandlers
from fabrikam.workloads.notification.service import build
from fabrikam.workloads.notification.subscriptions import PENDING_SECONDS, Subscriptions

from .conftest import eventually, make_broker, serving


class Inbox:
    """aiosmtpd handler: keeps every message that arrived."""

    def __init__(self) -> None:
        self.messages: list[Email] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@dataclass
class TwilioDouble:
    """Twilio's Messages endpoint as a real HTTP server; answers 500 while `failures` lasts."""

    url: str = ""
    received: list[dict[str, str]] = field(default_factory=list)
    failures: int = 0


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioDouble]:
    double = TwilioDouble()

    async def messages(request: web.Request) -> web.Response:
        assert request.match_info["sid"] == "AC123"
        assert request.headers["Authorization"].startswith("Basic ")
        if double.failures > 0:
            double.failures -= 1
            return web.json_response({"message": "unavailable"}, status=500)
        double.received.append(dict(await request.post()))  # type: ignore[arg-type]
        return web.json_response({"sid": f"SM{len(double.received)}", "status": "queued"}, status=201)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    double.url = f"http://127.0.0.1:{port}"
    yield double
    await runner.cleanup()


def subscriptions(redis: Redis, tmp_path: Path) -> Subscriptions:
    return Subscriptions(redis, FieldCipher.from_key_file(tmp_path / "pii.key", create=True))


def handlers_for(subs: Subscriptions, smtp_port: int, twilio: TwilioDouble) -> NotificationHandlers:
    breakers = circuit_breakers()
    email = SmtpEmail("127.0.0.1", smtp_port, "deliveries@fabrikam.example", timeout_seconds=2)
    sms = TwilioSms(twilio.url, "AC123", "token", "+15550001111", timeout_seconds=2)
    return NotificationHandlers(subs, {"email": Resilient(email, breakers, 2), "sms": Resilient(sms, breakers, 2)})


def notification_settings(redis_server: RedisServer, tmp_path: Path, **overrides: Any) -> ServiceSettings:
    """The notification service's settings on the test Redis and SMTP host, with its PII key in the test's folder."""
    return ServiceSettings(
        service="notification",
        redis_url=redis_server.url,
        smtp_host="127.0.0.1",
        pii_key_file=str(tmp_path / "pii.key"),
        **overrides,
    )


def stage_changed(delivery_id: str, stage: str) -> Message:
    event = DeliveryStageChanged(delivery_id=delivery_id, stage=stage, at=datetime.now(UTC))
    return outgoing(f"DeliveryStageChanged:{delivery_id}:{stage}", event)


async def test_each_event_reaches_each_subscriber_once_even_when_redelivered(
    redis: Redis, tmp_path: Path, smtp: tuple[Inbox, int], twilio: TwilioDouble
) -> None:
    inbox, port = smtp
    subs = subscriptions(redis, tmp_path)
    await subs.add("d-1", "email", "ana@contoso.example")
    await subs.add("d-1", "sms", "+14255550199")
    handlers = handlers_for(subs, port, twilio)
    for message in (stage_changed("d-1", "headed_to_dropoff"), stage_changed("d-1", "completed")):
        await handlers.stage_changed(message)
        await handlers.stage_changed(message)  # redelivered: sends nothing more
    assert [m["Subject"] for m in inbox.messages] == [
        "Delivery d-1: your package is on its way",
        "Delivery d-1: your package was delivered",
    ]
    assert {m["To"] for m in inbox.messages} == {"ana@contoso.example"}
    assert [(sms["To"], sms["From"]) for sms in twilio.received] == [("+14255550199", "+15550001111")] * 2
    assert "delivered" in twilio.received[1]["Body"]
    assert [entry["outcome"] for entry in await subs.log("d-1")] == ["sent"] * 4
    assert await subs.stats() == {"sent": 4}


async def test_a_failing_provider_is_retried_later_without_resending_what_went_out(
    redis: Redis, tmp_path: Path, smtp: tuple[Inbox, int], twilio: TwilioDouble
) -> None:
    inbox, port = smtp
    subs = subscriptions(redis, tmp_path)
    await subs.add("d-2", "email", "ana@contoso.example")
    await subs.add("d-2", "sms", "+14255550199")
    handlers = handlers_for(subs, port, twilio)
    twilio.failures = 3  # more than one delivery's retries
    message = stage_changed("d-2", "completed")
    with pytest.raises(TransientError, match="sms"):
        await handlers.stage_changed(message)
    assert (len(inbox.messages), len(twilio.received)) == (1, 0)
    await handlers.stage_changed(message)  # the broker's redelivery
    assert (len(inbox.messages), len(twilio.received)) == (1, 1)


async def test_subscriptions_are_sealed_at_rest_and_bad_requests_name_the_field(
    redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    settings = notification_settings(redis_server, tmp_path)
    app = create_app(Runtime.from_settings(settings), build)
    await subscriptions(redis, tmp_path).reached(
        DeliveryStageChanged.model_validate(stage_changed("d-3", "scheduled").body)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notification") as api:
        accepted = await api.post(
            "/v1/deliveries/d-3/notify-me", json={"email": "bo@fabrikam.example", "phone": "+33612345678"}
        )
        assert (accepted.status_code, accepted.json()["channels"]) == (202, ["email", "sms"])
        neither = await api.post("/v1/deliveries/d-3/notify-me", json={})
        bad_phone = await api.post("/v1/deliveries/d-3/notify-me", json={"phone": "0612"})
        assert (neither.status_code, neither.json()["detail"][0]["msg"]) == (
            422,
            "Value error, email or phone is required",
        )
        assert (bad_phone.status_code, bad_phone.json()["detail"][0]["loc"]) == (422, ["body", "phone"])
    stored = await redis.hgetall("notify:subscriptions:d-3")
    assert len(stored) == 2
    assert all(value.startswith("v1:") and "fabrikam" not in value and "+336" not in value for value in stored.values())


async def test_an_unreachable_smtp_server_opens_the_breaker_and_then_fails_fast(redis: Redis, tmp_path: Path) -> None:
    breakers = circuit_breakers()
    email = Resilient(SmtpEmail("127.0.0.1", free_port(), "x@fabrikam.example", timeout_seconds=1), breakers, 1)
    for _ in range(5):
        with pytest.raises(TransientError):
            await email.send("ana@contoso.example", "s", "t")
    started = asyncio.get_running_loop().time()
    with pytest.raises(OpenedState):
        await email.send("ana@contoso.example", "s", "t")
    assert asyncio.get_running_loop().time() - started < 0.1


async def test_a_late_subscriber_hears_of_the_current_stage_at_once_and_only_once(
    redis_server: RedisServer, redis: Redis, tmp_path: Path, smtp: tuple[Inbox, int], twilio: TwilioDouble
) -> None:
    inbox, port = smtp
    subs = subscriptions(redis, tmp_path)
    handlers = handlers_for(subs, port, twilio)
    headed_to_dropoff = stage_changed("d-late", "headed_to_dropoff")
    for event in (stage_changed("d-late", "scheduled"), headed_to_dropoff, stage_changed("d-late", "headed_to_pickup")):
        await handlers.stage_changed(event)  # nobody subscribed yet; the last one arrived out of order
    assert inbox.messages == []
    settings = notification_settings(
        redis_server,
        tmp_path,
        smtp_port=port,
        lock_seconds=2,
    )

    async def queue_empty() -> bool:
        return not await redis.xlen("queue:notification-events")  # handled messages leave the stream

    async def emailed() -> bool:
        return len(inbox.messages) >= 1

    async with (
        serving(create_app(Runtime.from_settings(settings), build)) as url,
        httpx.AsyncClient(base_url=url) as api,
    ):
        subscribed = await api.post("/v1/deliveries/d-late/notify-me", json={"email": "cy@contoso.example"})
        assert (subscribed.status_code, subscribed.json()["stage"]) == (202, "headed_to_dropoff")
        await eventually(emailed)
        again = await api.post("/v1/deliveries/d-late/notify-me", json={"email": "cy@contoso.example"})
        assert again.status_code == 202
        await eventually(queue_empty)
    await handlers.stage_changed(headed_to_dropoff)  # the broker redelivers the original event
    assert [(m["To"], m["Subject"]) for m in inbox.messages] == [
        ("cy@contoso.example", "Delivery d-late: your package is on its way")
    ]
    await handlers.stage_changed(stage_changed("d-late", "completed"))  # and later changes reach them as usual
    assert [m["Subject"] for m in inbox.messages][1:] == ["Delivery d-late: your package was delivered"]
    assert [entry["stage"] for entry in await subs.log("d-late")] == ["headed_to_dropoff", "completed"]


async def test_a_subscriber_before_the_first_stage_change_is_kept_and_told_of_it_once(
    redis_server: RedisServer, redis: Redis, tmp_path: Path, smtp: tuple[Inbox, int], twilio: TwilioDouble
) -> None:
    inbox, port = smtp
    settings = notification_settings(redis_server, tmp_path)
    app = create_app(Runtime.from_settings(settings), build)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notification") as api:
        early = await api.post("/v1/deliveries/d-early/notify-me", json={"email": "bo@fabrikam.example"})
    assert (early.status_code, early.json()["stage"], early.json()["channels"]) == (202, None, ["email"])
    assert await redis.xlen("queue:notification-events") == 0  # nothing to tell yet
    assert PENDING_SECONDS - 60 < await redis.ttl("notify:subscriptions:d-early") <= PENDING_SECONDS
    handlers = handlers_for(subscriptions(redis, tmp_path), port, twilio)
    scheduled = stage_changed("d-early", "scheduled")
    await handlers.stage_changed(scheduled)
    await handlers.stage_changed(scheduled)  # redelivered
    assert [(m["To"], m["Subject"]) for m in inbox.messages] == [
        ("bo@fabrikam.example", "Delivery d-early: a drone is assigned")
    ]
    assert await redis.ttl("notify:subscriptions:d-early") > PENDING_SECONDS  # the delivery exists: kept longer


async def test_subscribing_while_the_first_stage_change_is_handled_notifies_exactly_once(
    redis_server: RedisServer, redis: Redis, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    """Either the handler sees the subscription or notify-me sees the stage, and when both do, one send."""
    inbox, port = smtp
    settings = notification_settings(
        redis_server,
        tmp_path,
        smtp_port=port,
        lock_seconds=2,
    )
    broker = make_broker(redis)
    deliveries = [f"d-race-{index}" for index in range(12)]

    async def subscribe(api: httpx.AsyncClient, delivery_id: str) -> str | None:
        answer = await api.post(f"/v1/deliveries/{delivery_id}/notify-me", json={"email": "ed@contoso.example"})
        assert answer.status_code == 202
        stage: str | None = answer.json()["stage"]
        return stage

    async def all_told() -> bool:
        return len(inbox.messages) >= len(deliveries)

    async def queue_empty() -> bool:
        return not await redis.xlen("queue:notification-events")

    async with (
        serving(create_app(Runtime.from_settings(settings), build)) as url,
        httpx.AsyncClient(base_url=url) as api,
    ):
        answers = await asyncio.gather(
            *(subscribe(api, delivery_id) for delivery_id in deliveries),
            *(broker.publish("notification-events", stage_changed(d, "scheduled")) for d in deliveries),
        )
        await eventually(all_told)
        await eventually(queue_empty)
    assert sorted(m["Subject"] for m in inbox.messages) == sorted(
        f"Delivery {delivery_id}: a drone is assigned" for delivery_id in deliveries
    )
    assert set(answers[: len(deliveries)]) <= {None, "scheduled"}


async def test_a_notification_dead_lettered_while_smtp_was_down_is_sent_once_after_a_redrive(
    redis_server: RedisServer, redis: Redis, tmp_path: Path, twilio: TwilioDouble
) -> None:
    smtp_port = free_port()  # nothing listens there yet
    settings = notification_settings(
        redis_server,
        tmp_path,
        smtp_port=smtp_port,
        outbound_timeout_seconds=1,
        lock_seconds=0.5,
        max_delivery_count=2,  # fewer failures than open the email breaker
        twilio_url=twilio.url,
        twilio_account_sid="AC123",
        twilio_auth_token="token",
        twilio_from="+15550001111",
    )
    subs = subscriptions(redis, tmp_path)
    await subs.add("d-dl", "email", "di@contoso.example")
    await subs.add("d-dl", "sms", "+14255550123")
    broker = make_broker(redis)
    await broker.publish("notification-events", stage_changed("d-dl", "completed"))
    inbox = Inbox()

    async def dead_lettered() -> bool:
        return len(await broker.dead_letters("notification-events")) == 1

    async def emailed() -> bool:
        return len(inbox.messages) == 1

    async def handled() -> bool:
        return not await redis.xlen("queue:notification-events")

    async with (
        serving(create_app(Runtime.from_settings(settings), build)) as url,
        httpx.AsyncClient(base_url=url) as api,
    ):
        await eventually(dead_lettered)
        assert len(twilio.received) == 1  # the SMS went out before the email gave up
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        try:
            redriven = await api.post("/v1/admin/dead-letters/redrive")
            assert (redriven.status_code, redriven.json()) == (200, {"moved": 1})
            await eventually(emailed)
            await eventually(handled)
            assert (await api.post("/v1/admin/dead-letters/redrive")).json() == {"moved": 0}
        finally:
            controller.stop()
    assert [(m["To"], m["Subject"]) for m in inbox.messages] == [
        ("di@contoso.example", "Delivery d-dl: your package was delivered")
    ]
    assert len(twilio.received) == 1
    assert await broker.dead_letters("notification-events") == []
    assert sorted(entry["outcome"] + ":" + entry["channel"] for entry in await subs.log("d-dl")) == [
        "sent:email",
        "sent:sms",
    ]


async def test_an_address_the_smtp_server_cannot_take_is_recorded_as_failed_not_retried_for_ever(
    redis: Redis, tmp_path: Path, twilio: TwilioDouble
) -> None:
    """The API accepts internationalised addresses; a server without SMTPUTF8 refuses them for good, so the event
    must not fail (and be redelivered until dead-lettered) for their sake."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        subs = subscriptions(redis, tmp_path)
        await subs.add("d-utf8", "email", "zoë@contoso.example")
        await subs.add("d-utf8", "email", "zoe@contoso.example")
        await handlers_for(subs, port, twilio).stage_changed(stage_changed("d-utf8", "scheduled"))
    finally:
        controller.stop()
    assert [str(m["To"]) for m in inbox.messages] == ["zoe@contoso.example"]
    assert sorted(entry["outcome"] for entry in await subs.log("d-utf8")) == ["failed", "sent"]

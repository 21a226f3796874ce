"""Notification routes: customers ask to be told, and can see what was sent."""

from typing import Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field, model_validator

from fabrikam.workloads.contracts import NOTIFICATION_EVENTS, PHONE_PATTERN, Contract, Email
from fabrikam.workloads.kit.auth import Auth, Role
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.notification.handlers import subscribe_notices
from fabrikam.workloads.notification.subscriptions import Subscriptions

DELIVERY_ID = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")


class NotifyMe(Contract):
    email: Email | None = None
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN, description="E.164, e.g. +14255550100")

    @model_validator(mode="after")
    def some_channel(self) -> "NotifyMe":
        if self.email is None and self.phone is None:
            raise ValueError("email or phone is required")
        return self


class Subscribed(Contract):
    delivery_id: str
    channels: list[str]
    stage: str | None = Field(
        description="The stage the delivery is at, notified right away; null when no stage change has reached "
        "notification yet (a delivery just requested): its first one is notified when it comes"
    )


class Redriven(Contract):
    moved: int


def router(subscriptions: Subscriptions, auth: Auth, broker: Broker) -> APIRouter:
    api = APIRouter(tags=["notifications"])
    caller = auth.require(Role.customer, Role.business_admin)

    @api.post(
        "/v1/deliveries/{delivery_id}/notify-me",
        status_code=202,
        response_model=Subscribed,
        dependencies=[Depends(caller)],
        summary="Be told by email and/or SMS of the delivery's current stage now, then of each change",
    )
    async def notify_me(body: NotifyMe, delivery_id: str = DELIVERY_ID) -> Subscribed:
        """Accepted before the delivery's first stage change too: customers subscribe right after the 202 of
        their request, and the subscription waits (for `PENDING_SECONDS` at most) for that change. The
        current stage goes out through the queue like any stage change, so it is retried the same way and a
        recipient already told of it (a repeated subscription, a redelivered event) is not told again."""
        added = []
        if body.email:
            added.append(await subscriptions.add(delivery_id, "email", body.email))
        if body.phone:
            added.append(await subscriptions.add(delivery_id, "sms", body.phone))
        # Read after subscribing: a stage change handled meanwhile either saw the subscription or is the one
        # read here; the per-recipient marks keep it from being sent twice when both happen.
        current = await subscriptions.current(delivery_id)
        for notice in subscribe_notices(current, added):
            await broker.publish(NOTIFICATION_EVENTS, notice)
        stage = current.stage if current is not None else None
        return Subscribed(delivery_id=delivery_id, channels=[s.channel for s in added], stage=stage)

    @api.get(
        "/v1/deliveries/{delivery_id}/notifications",
        dependencies=[Depends(auth.require())],
        summary="Notifications sent for a delivery (channel, stage, outcome; no recipients)",
    )
    async def sent(delivery_id: str = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")) -> list[dict[str, Any]]:
        return await subscriptions.log(delivery_id)

    @api.post(
        "/v1/admin/dead-letters/redrive",
        dependencies=[Depends(auth.require(Role.drone_operator))],
        summary="Send dead-lettered stage changes again (recipients already notified are skipped)",
    )
    async def redrive() -> Redriven:
        """For after a provider outage outlasted the redeliveries: each message goes back to the queue with a
        fresh delivery count, and the per-recipient marks keep anyone from hearing of a stage twice."""
        return Redriven(moved=await broker.redrive(NOTIFICATION_EVENTS))

    @api.get("/v1/notifications/stats", dependencies=[Depends(auth.require())], summary="Counts by outcome")
    async def stats() -> dict[str, int]:
        return await subscriptions.stats()

    return api

"""Notification routes: customers ask to be told, and can see what was sent."""

from typing import Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field, model_validator

from fabrikam.workloads.contracts import EMAIL_PATTERN, PHONE_PATTERN, Contract
from fabrikam.workloads.kit.auth import Auth, Role
from fabrikam.workloads.notification.subscriptions import Subscriptions

DELIVERY_ID = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")


class NotifyMe(Contract):
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN, description="E.164, e.g. +14255550100")

    @model_validator(mode="after")
    def some_channel(self) -> "NotifyMe":
        if self.email is None and self.phone is None:
            raise ValueError("email or phone is required")
        return self


class Subscribed(Contract):
    delivery_id: str
    channels: list[str]


def router(subscriptions: Subscriptions, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["notifications"])
    caller = auth.require(Role.customer, Role.business_admin)

    @api.post(
        "/v1/deliveries/{delivery_id}/notify-me",
        status_code=202,
        response_model=Subscribed,
        dependencies=[Depends(caller)],
        summary="Be told by email and/or SMS when the delivery changes stage",
    )
    async def notify_me(body: NotifyMe, delivery_id: str = DELIVERY_ID) -> Subscribed:
        channels = []
        if body.email:
            await subscriptions.add(delivery_id, "email", body.email)
            channels.append("email")
        if body.phone:
            await subscriptions.add(delivery_id, "sms", body.phone)
            channels.append("sms")
        return Subscribed(delivery_id=delivery_id, channels=channels)

    @api.get(
        "/v1/deliveries/{delivery_id}/notifications",
        dependencies=[Depends(auth.require())],
        summary="Notifications sent for a delivery (channel, stage, outcome; no recipients)",
    )
    async def sent(delivery_id: str = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")) -> list[dict[str, Any]]:
        return await subscriptions.log(delivery_id)

    @api.get("/v1/notifications/stats", dependencies=[Depends(auth.require())], summary="Counts by outcome")
    async def stats() -> dict[str, int]:
        return await subscriptions.stats()

    return api

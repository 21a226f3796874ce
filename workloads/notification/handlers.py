"""Delivery stage changes in, one notification per subscriber per event out."""

import logging
from collections.abc import Mapping

from fabrikam.workloads.contracts import DeliveryStageChanged
from fabrikam.workloads.kit.messaging.message import Message
from fabrikam.workloads.kit.resilience import TransientError
from fabrikam.workloads.kit.worker import Handler
from fabrikam.workloads.notification.channels import Channel, PermanentFailure
from fabrikam.workloads.notification.subscriptions import Subscriptions

log = logging.getLogger(__name__)

PHRASES = {
    "scheduled": "a drone is assigned",
    "headed_to_pickup": "the drone is on its way to pick up your package",
    "headed_to_dropoff": "your package is on its way",
    "completed": "your package was delivered",
    "cancelled": "the delivery was cancelled",
    "failed": "the delivery could not be made",
}


def compose(event: DeliveryStageChanged) -> tuple[str, str]:
    subject = f"Delivery {event.delivery_id}: {PHRASES.get(event.stage, event.stage)}"
    text = f"Stage: {event.stage} at {event.at.isoformat(timespec='seconds')}."
    if event.delivery_eta is not None and event.stage not in ("completed", "cancelled", "failed"):
        text += f" Expected delivery: {event.delivery_eta.isoformat(timespec='seconds')}."
    return subject, text


class NotificationHandlers:
    def __init__(self, subscriptions: Subscriptions, channels: Mapping[str, Channel]) -> None:
        self._subscriptions = subscriptions
        self._channels = channels

    async def stage_changed(self, message: Message) -> None:
        """Each recipient is marked once sent, so a redelivered event skips them; a provider still failing
        after its retries fails the message, which the broker redelivers (and dead-letters in the end)."""
        event = DeliveryStageChanged.model_validate(message.body)
        subject, text = compose(event)
        failing: list[str] = []
        for subscription in await self._subscriptions.of(event.delivery_id):
            if await self._subscriptions.already_sent(message.id, subscription):
                continue
            channel = self._channels.get(subscription.channel)
            if channel is None:
                await self._subscriptions.record(message.id, event.delivery_id, subscription, event.stage, "skipped")
                continue
            try:
                await channel.send(subscription.recipient, subject, text)
            except PermanentFailure as error:
                log.warning("notification refused", extra={"fields": {"channel": channel.name, "error": str(error)}})
                await self._subscriptions.record(message.id, event.delivery_id, subscription, event.stage, "failed")
                continue
            except Exception as error:
                failing.append(f"{channel.name}: {error!r}")
                continue
            await self._subscriptions.record(message.id, event.delivery_id, subscription, event.stage, "sent")
        if failing:
            raise TransientError(f"notifications not sent yet: {'; '.join(failing)}")

    def handlers(self) -> Mapping[str, Handler]:
        return {DeliveryStageChanged.__name__: self.stage_changed}

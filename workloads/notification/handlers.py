"""Delivery stage changes in, one notification per subscriber per event out."""

import logging
from collections.abc import Iterable, Mapping

from fabrikam.workloads.contracts import FROM_PEERS, DeliveryStageChanged
from fabrikam.workloads.kit.messaging.message import Message, outgoing
from fabrikam.workloads.kit.metrics import NOTIFICATIONS
from fabrikam.workloads.kit.resilience import TransientError
from fabrikam.workloads.kit.worker import Handler
from fabrikam.workloads.notification.channels import Channel, PermanentFailure
from fabrikam.workloads.notification.subscriptions import Subscription, Subscriptions

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


def event_id(event: DeliveryStageChanged) -> str:
    """What a recipient is notified of once: the delivery's stage (also the id delivery publishes it under)."""
    return f"DeliveryStageChanged:{event.delivery_id}:{event.stage}"


def late_notice(event: DeliveryStageChanged, subscription: Subscription) -> Message:
    """The stage a new subscriber missed, sent to the notification queue again under its own message id (the
    original's is in the broker's duplicate window); recipients already notified of it are skipped."""
    return outgoing(f"{event_id(event)}:for:{subscription.key}", event)


def subscribe_notices(current: DeliveryStageChanged | None, added: Iterable[Subscription]) -> list[Message]:
    """What new subscriptions are sent at once: the stage the delivery is at; nothing when no stage change has
    reached notification yet, since the first one will find the subscriptions like any other."""
    if current is None:
        return []
    return [late_notice(current, subscription) for subscription in added]


class NotificationHandlers:
    def __init__(self, subscriptions: Subscriptions, channels: Mapping[str, Channel]) -> None:
        self._subscriptions = subscriptions
        self._channels = channels

    async def stage_changed(self, message: Message) -> None:
        """Each recipient is claimed before and marked after the send, so a redelivered event (or a late
        subscriber's notice of it) skips them; a provider still failing after its retries fails the message,
        which the broker redelivers (and dead-letters in the end)."""
        event = DeliveryStageChanged.model_validate(message.body, context=FROM_PEERS)
        await self._subscriptions.reached(event)
        subject, text, sent_id = *compose(event), event_id(event)
        failing: list[str] = []
        for subscription in await self._subscriptions.of(event.delivery_id):
            if not await self._subscriptions.claim(sent_id, subscription):
                continue
            channel = self._channels.get(subscription.channel)
            if channel is None:
                await self._subscriptions.record(sent_id, event.delivery_id, subscription, event.stage, "skipped")
                NOTIFICATIONS.labels(subscription.channel, "skipped").inc()
                continue
            try:
                await channel.send(subscription.recipient, subject, text)
            except PermanentFailure as error:
                log.warning("notification refused", extra={"fields": {"channel": channel.name, "error": str(error)}})
                await self._subscriptions.record(sent_id, event.delivery_id, subscription, event.stage, "failed")
                NOTIFICATIONS.labels(channel.name, "failed").inc()
                continue
            except Exception as error:
                await self._subscriptions.unclaim(sent_id, subscription)
                NOTIFICATIONS.labels(channel.name, "deferred").inc()
                failing.append(f"{channel.name}: {error!r}")
                continue
            await self._subscriptions.record(sent_id, event.delivery_id, subscription, event.stage, "sent")
            NOTIFICATIONS.labels(channel.name, "sent").inc()
        if failing:
            raise TransientError(f"notifications not sent yet: {'; '.join(failing)}")

    def handlers(self) -> Mapping[str, Handler]:
        return {DeliveryStageChanged.__name__: self.stage_changed}

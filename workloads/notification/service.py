"""Wires the notification service: subscriptions API, delivery stage changes, and the providers."""

from fabrikam.workloads.contracts import NOTIFICATION_EVENTS
from fabrikam.workloads.kit.auth import Auth, TokenVerifier
from fabrikam.workloads.kit.pii import FieldCipher
from fabrikam.workloads.kit.requirements import Need
from fabrikam.workloads.kit.resilience import circuit_breakers
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.kit.settings import require
from fabrikam.workloads.notification import api
from fabrikam.workloads.notification.channels import Resilient, channels_from
from fabrikam.workloads.notification.handlers import NotificationHandlers
from fabrikam.workloads.notification.subscriptions import Subscriptions

NEEDS = (Need.EMAIL, Need.PII_KEY)


def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    key = require(settings.pii_key(), "pii_key_file")
    cipher = FieldCipher.from_key_file(key.path, create=key.create)
    subscriptions = Subscriptions(runtime.redis, cipher)
    providers = channels_from(settings)
    breakers = circuit_breakers()
    channels = {
        name: Resilient(channel, breakers, settings.outbound_timeout_seconds) for name, channel in providers.items()
    }
    handlers = NotificationHandlers(subscriptions, channels)
    auth = Auth(TokenVerifier.from_settings(settings))

    async def close() -> None:
        await auth.close()
        for provider in providers.values():
            closer = getattr(provider, "close", None)
            if closer is not None:
                await closer()

    return ServiceParts(
        title="Fabrikam notification",
        routers=[api.router(subscriptions, auth, runtime.broker)],
        consumers={NOTIFICATION_EVENTS: handlers.handlers()},
        on_stop=[close],
    )

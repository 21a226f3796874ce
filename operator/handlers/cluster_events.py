"""Events about a cluster-scoped object (a DeliveryPlatform) that `kubectl describe` shows.

kopf files them in the namespace "default" with `involvedObject.namespace: default`; describe searches for the
object's own, empty, namespace and never finds them. The API server accepts an Event in "default" whose object has no
namespace, which is what describe looks for."""

import datetime
import logging
from typing import Any

from fabrikam.operator.api import OPERATOR_NAME
from fabrikam.operator.apply.client import ApiError, KubeApi

COMPONENT = OPERATOR_NAME
MESSAGE_LIMIT = 1024

logger = logging.getLogger(__name__)


def event_for(body: dict[str, Any], *, type: str, reason: str, message: str) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = body["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": "default"},
        "involvedObject": {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": meta["name"],
            "uid": meta.get("uid"),
        },
        "type": type,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "source": {"component": COMPONENT},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


async def post(api: KubeApi, body: dict[str, Any], *, type: str, reason: str, message: str) -> None:
    """Best effort, like kopf's own Events: a refused Event is logged, never a failed reconcile."""
    try:
        await api.create(event_for(body, type=type, reason=reason, message=message))
    except ApiError as error:
        logger.warning("could not post the Event %s about %s: %s", reason, body["metadata"]["name"], error)

"""Ingestion routes: 202 only once the broker has durably accepted the message (seed: lost messages)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response
from redis.asyncio import Redis

from fabrikam.workloads.contracts import (
    DELIVERY_REQUESTS,
    Contract,
    DeliveryCancelled,
    DeliveryRequested,
    DeliveryRescheduled,
)
from fabrikam.workloads.ingestion.models import Accepted, DeliveryRequest, RescheduleRequest
from fabrikam.workloads.ingestion.ratelimit import RateLimiter
from fabrikam.workloads.kit import tracing
from fabrikam.workloads.kit.auth import Auth, Principal, Role
from fabrikam.workloads.kit.messaging.message import outgoing, outgoing_raw
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.openapi import declared
from fabrikam.workloads.kit.resilience import retry_transient

IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f3a6e-8d8f-4a8e-9a53-2f1c7e0d4b11")
DELIVERY_ID = Path(pattern=r"^[A-Za-z0-9-]{1,64}$", description="The deliveryId returned on creation.")


def delivery_id_for(owner: str, idempotency_key: str | None) -> str:
    """A retry with the same Idempotency-Key maps to the same id, and so to the same message id."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{owner}\n{idempotency_key}"))


OWNER_RETENTION_SECONDS = 30 * 86_400


class Ownership:
    """Which business each delivery belongs to, so only that business may change or cancel it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def claim(self, principal: Principal | None, owner: str, delivery_id: str) -> None:
        if principal is None:
            return
        if principal.business_id != owner:
            raise HTTPException(403, f"owner must be your business ({principal.business_id})")
        await self._redis.set(f"ingestion:owner:{delivery_id}", owner, ex=OWNER_RETENTION_SECONDS)

    async def check(self, principal: Principal | None, delivery_id: str) -> None:
        if principal is None:
            return
        owner = await self._redis.get(f"ingestion:owner:{delivery_id}")
        if owner is None:
            raise HTTPException(404, f"no delivery request {delivery_id}")
        if owner != principal.business_id:
            raise HTTPException(403, "the delivery belongs to another business")


def router(
    broker: Broker, limiter: RateLimiter, publish_deadline_seconds: float, auth: Auth, ownership: Ownership
) -> APIRouter:
    """The versioned ingestion API; with auth on, a business admin or customer acts for their own business."""
    caller = auth.require(Role.business_admin, Role.customer)

    async def admit(request: Request) -> None:
        """Rate limit before anything else; the gateway sets X-Client-Id for authenticated clients.

        Async although it never awaits: FastAPI runs a plain function in its thread pool, a thread
        hand-off per request that cost more than the check itself."""
        client = request.headers.get("x-client-id") or (request.client.host if request.client else "unknown")
        if wait := limiter.retry_after(client):
            raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": str(wait)})

    api = APIRouter(
        prefix="/v1/deliveryrequests",
        tags=["delivery requests"],
        dependencies=[Depends(admit)],
        responses=declared(429),
    )

    async def enqueue(message_id: str, body: Contract | dict[str, Any]) -> None:
        """Build the message inside the producer span, so its traceparent names that span."""
        with tracing.producing(f"{DELIVERY_REQUESTS} publish"):
            if isinstance(body, Contract):
                message = outgoing(message_id, body)
            else:
                message = outgoing_raw(message_id, DeliveryRequested.__name__, body)
            await retry_transient(
                lambda: broker.publish(DELIVERY_REQUESTS, message), deadline_seconds=publish_deadline_seconds
            )

    @api.post(
        "",
        status_code=202,
        response_model=Accepted,
        summary="Request a delivery",
    )
    async def request_delivery(
        body: DeliveryRequest,
        response: Response,
        idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=128),
        principal: Principal | None = Depends(caller),
    ) -> Accepted:
        """Accepted once durably queued; a retry with the same Idempotency-Key returns the same deliveryId
        and enqueues nothing new (the broker drops the duplicate message id)."""
        delivery_id = delivery_id_for(body.owner, idempotency_key)
        await ownership.claim(principal, body.owner, delivery_id)
        requested = {
            "deliveryId": delivery_id,
            "requestedAt": datetime.now(UTC).isoformat(),
            **body.model_dump(mode="json", by_alias=True),
        }
        await enqueue(f"DeliveryRequested:{delivery_id}", requested)
        response.headers["Location"] = f"/v1/deliveries/{delivery_id}"
        return Accepted(delivery_id=delivery_id)

    @api.patch(
        "/{delivery_id}",
        status_code=202,
        response_model=Accepted,
        responses=declared(404),
        summary="Reschedule a delivery",
    )
    async def reschedule_delivery(
        body: RescheduleRequest,
        delivery_id: str = DELIVERY_ID,
        idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=128),
        principal: Principal | None = Depends(caller),
    ) -> Accepted:
        """The workflow applies the new times at whatever stage the delivery is in."""
        await ownership.check(principal, delivery_id)
        suffix = idempotency_key or uuid.uuid4().hex
        changed = DeliveryRescheduled(delivery_id=delivery_id, pickup_time=body.pickup_time, deadline=body.deadline)
        await enqueue(f"DeliveryRescheduled:{delivery_id}:{suffix}", changed)
        return Accepted(delivery_id=delivery_id)

    @api.delete(
        "/{delivery_id}", status_code=202, response_model=Accepted, responses=declared(404), summary="Cancel a delivery"
    )
    async def cancel_delivery(
        delivery_id: str = DELIVERY_ID, principal: Principal | None = Depends(caller)
    ) -> Accepted:
        """Cancelling twice is one cancellation; the workflow compensates whatever was already done."""
        await ownership.check(principal, delivery_id)
        await enqueue(f"DeliveryCancelled:{delivery_id}", DeliveryCancelled(delivery_id=delivery_id))
        return Accepted(delivery_id=delivery_id)

    return api

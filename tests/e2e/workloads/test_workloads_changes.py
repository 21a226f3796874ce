"""Cancel and reschedule at several stages, and a full flight driven by drone telemetry."""

import asyncio
from datetime import UTC, datetime

import httpx

from fabrikam.devcluster.localstack import Stack
from fabrikam.workloads.contracts import DELIVERY_TELEMETRY, DronePositionReported
from fabrikam.workloads.kit.messaging.message import outgoing
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings

from .conftest import delivery_body, drones, get_json, seed, wait_until_settled


async def report_position(stack: Stack, drone_id: str, latitude: float, longitude: float) -> None:
    """What the drone telemetry service publishes."""
    redis = redis_client(ServiceSettings(redis_url=stack.redis.url))
    broker = RedisStreamsBroker(
        redis, "telemetry-test", lock_seconds=2, max_delivery_count=10, duplicate_window_seconds=60
    )
    report = DronePositionReported(
        drone_id=drone_id, latitude=latitude, longitude=longitude, speed_mps=15, reported_at=datetime.now(UTC)
    )
    await broker.publish(DELIVERY_TELEMETRY, outgoing(f"position-{drone_id}-{latitude}-{longitude}", report))
    await redis.aclose()


async def eventually_stage(url: str, stage: str, key: str = "stage", within: float = 60.0) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + within
    current: dict[str, object] = {}
    while asyncio.get_running_loop().time() < deadline:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(url)
        if response.status_code == 200:
            current = response.json()
            if current[key] == stage:
                return current
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never reached {stage}; last seen {current}")


async def test_cancel_and_reschedule_at_several_stages(stack: Stack) -> None:
    seed(stack, 20)
    ingestion, workflow = stack.services["ingestion"].url, stack.services["workflow"].url
    delivery_url, package_url = stack.services["delivery"].url, stack.services["package"].url
    async with httpx.AsyncClient(base_url=ingestion, timeout=30) as client:
        ids = [
            (await client.post("/v1/deliveryrequests", json=delivery_body(n))).json()["deliveryId"] for n in range(5)
        ]
        cancelled_at_once, rescheduled_at_once, cancelled_when_scheduled, rescheduled_when_scheduled, flying = ids
        assert (await client.delete(f"/v1/deliveryrequests/{cancelled_at_once}")).status_code == 202
        new_pickup = {"pickupTime": "2030-01-01T11:00:00Z"}
        assert (await client.patch(f"/v1/deliveryrequests/{rescheduled_at_once}", json=new_pickup)).status_code == 202
        await wait_until_settled(workflow, ids[1:], settled=frozenset({"scheduled"}))
        assert (await client.delete(f"/v1/deliveryrequests/{cancelled_when_scheduled}")).status_code == 202
        later = {"deadline": "2030-01-01T15:00:00Z"}
        assert (await client.patch(f"/v1/deliveryrequests/{rescheduled_when_scheduled}", json=later)).status_code == 202
        flying_view = await get_json(f"{delivery_url}/v1/deliveries/{flying}")
        pickup = flying_view["pickup"]
        await report_position(stack, flying_view["droneId"], pickup["latitude"] - 0.01, pickup["longitude"])
        await eventually_stage(f"{delivery_url}/v1/deliveries/{flying}", "headed_to_pickup")
        assert (await client.delete(f"/v1/deliveryrequests/{flying}")).status_code == 202

    views = await wait_until_settled(workflow, ids)
    assert {i: views[i]["stage"] for i in ids} == {
        cancelled_at_once: "cancelled",
        rescheduled_at_once: "scheduled",
        cancelled_when_scheduled: "cancelled",
        rescheduled_when_scheduled: "scheduled",
        flying: "cancelled",
    }
    moved = await get_json(f"{delivery_url}/v1/deliveries/{rescheduled_at_once}")
    assert moved["pickupTime"] == "2030-01-01T11:00:00Z"
    await eventually_stage(f"{delivery_url}/v1/deliveries/{cancelled_when_scheduled}", "cancelled")
    await eventually_stage(f"{delivery_url}/v1/deliveries/{flying}", "cancelled")
    for delivery_id in (cancelled_when_scheduled, flying):
        await eventually_stage(f"{package_url}/v1/packages/package-{delivery_id}", "cancelled", key="status")

    async def extended() -> bool:
        events = await get_json(f"{delivery_url}/v1/deliveries/{rescheduled_when_scheduled}/events")
        return any(event["kind"] == "rescheduled" for event in events)

    for _ in range(150):
        if await extended():
            break
        await asyncio.sleep(0.2)
    extended_view = await get_json(f"{delivery_url}/v1/deliveries/{rescheduled_when_scheduled}")
    assert extended_view["deadline"] == "2030-01-01T15:00:00Z"

    for _ in range(150):  # compensations release the drones of both cancelled deliveries
        fleet = await drones(stack)
        if sorted(d["deliveryId"] for d in fleet if d["status"] == "assigned") == sorted(
            [rescheduled_at_once, rescheduled_when_scheduled]
        ):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"drones not released: {[d for d in fleet if d['status'] == 'assigned']}")


async def test_a_delivery_flies_to_completion_and_its_drone_is_released(stack: Stack) -> None:
    seed(stack, 3)
    async with httpx.AsyncClient(base_url=stack.services["ingestion"].url, timeout=30) as client:
        body = delivery_body(1, confirmationRequired=True)
        delivery_id = (await client.post("/v1/deliveryrequests", json=body)).json()["deliveryId"]
    delivery_url = f"{stack.services['delivery'].url}/v1/deliveries/{delivery_id}"
    scheduled = await eventually_stage(delivery_url, "scheduled")
    drone_id = str(scheduled["droneId"])
    pickup, dropoff = body["pickup"], body["dropoff"]
    await report_position(stack, drone_id, pickup["latitude"], pickup["longitude"])
    await eventually_stage(delivery_url, "headed_to_dropoff")
    await report_position(stack, drone_id, dropoff["latitude"], dropoff["longitude"])
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(150):
            response = await client.post(f"{delivery_url}/confirmations", json={"confirmedBy": "front desk"})
            if response.status_code == 202:
                break
            await asyncio.sleep(0.2)
    assert response.status_code == 202
    await eventually_stage(f"{stack.services['workflow'].url}/v1/workflows/{delivery_id}", "completed")
    for _ in range(150):
        drone = await get_json(f"{stack.services['scheduler'].url}/v1/drones/{drone_id}")
        if drone["status"] == "available":
            break
        await asyncio.sleep(0.2)
    assert drone["status"] == "available"
    kinds = [event["kind"] for event in await get_json(f"{delivery_url}/events")]
    assert kinds[:3] == ["created", "scheduled", "position"]
    assert kinds[-2:] == ["arrived", "confirmed"]

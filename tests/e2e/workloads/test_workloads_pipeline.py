"""End to end on the local stack: deliveries flow ingestion -> workflow -> package/scheduler/delivery."""

from collections import Counter

from fabrikam.devcluster.localstack import Stack

from .conftest import drones, get_json, post_deliveries, scheduled_event_counts, seed, wait_until_settled


async def test_200_deliveries_get_distinct_drones_while_drones_last_none_lost_none_duplicated(stack: Stack) -> None:
    seed(stack, 150)
    ids = await post_deliveries(stack.services["ingestion"].url, 200)
    assert len(set(ids)) == 200
    views = await wait_until_settled(stack.services["workflow"].url, ids)
    stages = Counter(view["stage"] for view in views.values())
    assert stages == {"scheduled": 150, "failed": 50}
    assigned = [view["droneId"] for view in views.values() if view["stage"] == "scheduled"]
    assert len(set(assigned)) == 150
    assert all(view["reason"].startswith("no drone") for view in views.values() if view["stage"] == "failed")
    fleet = await drones(stack)
    assert Counter(drone["status"] for drone in fleet) == {"assigned": 150}
    assert {drone["deliveryId"] for drone in fleet} == {i for i, view in views.items() if view["stage"] == "scheduled"}
    scheduled_ids = [i for i, view in views.items() if view["stage"] == "scheduled"]
    assert set((await scheduled_event_counts(stack, scheduled_ids)).values()) == {1}
    failed_id = next(i for i, view in views.items() if view["stage"] == "failed")
    package = await get_json(f"{stack.services['package'].url}/v1/packages/package-{failed_id}")
    assert package["status"] == "cancelled"
    delivery = await get_json(f"{stack.services['delivery'].url}/v1/deliveries/{scheduled_ids[0]}")
    assert delivery["stage"] == "scheduled"
    assert delivery["pickupEta"] is not None
    assert delivery["deliveryEta"] > delivery["pickupEta"]

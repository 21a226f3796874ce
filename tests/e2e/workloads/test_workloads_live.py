"""All eight services on the local stack with token checks on: deliveries flown by the simulator, live
tracking over SSE, notifications through a real SMTP server, refusals of foreign tokens and forged webhooks."""

import asyncio
import itertools
import json
import mailbox
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabrikam.devcluster.localstack import ALL_SERVICES, Stack, token
from fabrikam.workloads.account import payments
from fabrikam.workloads.notification.handlers import PHRASES
from fabrikam.workloads.simulator.engine import FleetSimulator, SimulatorConfig, Tokens

from .conftest import STACK_ENV, delivery_body

DELIVERIES = 6
SPEED_UP = 20.0
# One wall second is 20 simulated seconds: ETAs must be right to within a second of wall time.
ETA_TOLERANCE_S = 1.0
# Reports carry wall-clock times taken a few milliseconds apart within one simulator tick.
CLOCK_JITTER_S = 0.01


@pytest.fixture(scope="module")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    local = Stack(tmp_path_factory.mktemp("full-stack"), STACK_ENV, services=ALL_SERVICES, auth=True)
    try:
        local.start()
        yield local
    finally:
        local.stop()


def tokens(stack: Stack) -> Tokens:
    account = stack.services["account"].url
    return Tokens(business=token(account), fleet=token(account, "demo-fleet"))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def track(url: str, headers: dict[str, str], into: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(timeout=120) as client, client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                into.append(json.loads(line[5:]))


async def poll(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not seen within {within:.0f}s")


def emails(maildir: Path) -> list[str]:
    """Subjects of the emails that arrived, unfolded (long headers are folded on the wire)."""
    return [" ".join(str(message["Subject"]).split()) for message in mailbox.Maildir(maildir, create=False)]


async def test_simulated_deliveries_complete_with_live_etas_and_one_email_per_event(full_stack: Stack) -> None:
    urls = full_stack.urls()
    keys = tokens(full_stack)
    config = SimulatorConfig(drones=DELIVERIES, requests_per_second=3, speed_up=SPEED_UP, register_fleet=True)
    simulator = FleetSimulator(urls, config, keys)
    flying = asyncio.create_task(simulator.run(seconds=30, requests=DELIVERIES, drain_seconds=90))

    async def requested() -> bool:
        return bool(simulator.state.requested)

    await poll(requested, 30, "a first delivery request")
    followed = next(iter(simulator.state.requested))
    delivery_url = f"{urls['delivery']}/v1/deliveries/{followed}"

    async def known() -> bool:
        async with httpx.AsyncClient(timeout=10) as client:
            return (await client.get(delivery_url, headers=bearer(keys.business))).status_code == 200

    await poll(known, 30, "the delivery on the delivery service")  # 404 until the workflow scheduled it
    pushed: list[dict[str, Any]] = []
    tracker = asyncio.create_task(track(f"{delivery_url}/track", bearer(keys.business), pushed))
    snapshot = await flying
    await asyncio.wait_for(tracker, 30)
    assert set(snapshot.arrived) == set(snapshot.requested)
    assert len(snapshot.requested) == DELIVERIES

    async with httpx.AsyncClient(timeout=30, headers=bearer(keys.business)) as client:
        views = [(await client.get(f"{urls['delivery']}/v1/deliveries/{d}")).json() for d in snapshot.requested]
    assert [view["stage"] for view in views] == ["completed"] * DELIVERIES
    assert len({view["droneId"] for view in views}) >= 1

    stages = [event["stage"] for event in pushed]
    assert stages[-1] == "completed"
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]][-3:] == [
        "headed_to_pickup",
        "headed_to_dropoff",
        "completed",
    ]
    in_flight = [e for e in pushed if e["stage"] in ("headed_to_pickup", "headed_to_dropoff") and e["deliveryEta"]]
    assert len(in_flight) > 10
    remaining = [
        (
            datetime.fromisoformat(e["deliveryEta"]) - datetime.fromisoformat(e["lastLocation"]["reportedAt"])
        ).total_seconds()
        for e in in_flight
    ]
    rises = [(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(remaining)) if b > a + CLOCK_JITTER_S]
    assert not rises, rises
    assert remaining[-1] < remaining[0]
    arrival = snapshot.arrived[followed]
    errors = [abs((datetime.fromisoformat(e["deliveryEta"]) - arrival).total_seconds()) for e in in_flight]
    assert max(errors) < ETA_TOLERANCE_S, errors

    assert full_stack.mail is not None
    # The customer subscribes right after the 202, before notification has heard of the delivery: the
    # subscription waits for the first stage change, and every stage is notified, each exactly once.
    flight_stages = ("scheduled", "headed_to_pickup", "headed_to_dropoff", "completed")
    expected = {f"Delivery {d}: {PHRASES[stage]}" for d in snapshot.requested for stage in flight_stages}
    maildir = full_stack.mail.maildir

    async def all_arrived() -> bool:
        return expected <= set(emails(maildir))

    await poll(all_arrived, 60, f"{len(expected)} flight emails")
    await asyncio.sleep(1.0)  # a duplicate would arrive right behind
    subjects = emails(full_stack.mail.maildir)
    assert [subject for subject, count in Counter(subjects).items() if count > 1] == []
    assert sorted(subjects) == sorted(expected)


async def test_foreign_tokens_and_forged_or_replayed_webhooks_are_refused_and_change_nothing(
    full_stack: Stack,
) -> None:
    urls = full_stack.urls()
    keys = tokens(full_stack)
    async with httpx.AsyncClient(timeout=30) as client:
        signup = {"name": "Rival", "contactEmail": "r@x.io"}
        rival = await client.post(f"{urls['account']}/v1/businesses", json=signup)
        credentials = rival.json()["credentials"]
        rival_token = token(urls["account"], credentials["clientId"], credentials["clientSecret"])
        ours = delivery_body(1, owner="fabrikam-demo")
        requests = f"{urls['ingestion']}/v1/deliveryrequests"
        anonymous = await client.post(requests, json=ours)
        foreign = await client.post(requests, json=ours, headers=bearer(rival_token))
        assert (anonymous.status_code, foreign.status_code) == (401, 403)
        accepted = await client.post(requests, json=ours, headers=bearer(keys.business))
        assert accepted.status_code == 202
        delivery_id = accepted.json()["deliveryId"]
        foreign_cancel = await client.delete(f"{requests}/{delivery_id}", headers=bearer(rival_token))
        operator_request = await client.post(requests, json=ours, headers=bearer(keys.fleet))
        telemetry_by_business = await client.post(
            f"{urls['drone-telemetry']}/v1/telemetry", json={"reports": []}, headers=bearer(keys.business)
        )
        reading_without_token = await client.get(f"{urls['delivery']}/v1/deliveries/{delivery_id}")
        assert [r.status_code for r in (foreign_cancel, operator_request, telemetry_by_business)] == [403] * 3
        assert reading_without_token.status_code == 401

        profile = f"{urls['account']}/v1/businesses/fabrikam-demo"
        before = (await client.get(profile, headers=bearer(keys.business))).json()["balanceCents"]
        event = json.dumps(
            {
                "id": "evt-e2e",
                "type": "payment.succeeded",
                "businessId": "fabrikam-demo",
                "amountCents": 500,
                "currency": "EUR",
            }
        ).encode()
        webhook = f"{urls['account']}/v1/payments/webhook"
        forged = await client.post(
            webhook, content=event, headers={payments.HEADER: payments.sign("guess", int(time.time()), event)}
        )
        assert forged.status_code == 401
        assert (await client.get(profile, headers=bearer(keys.business))).json()["balanceCents"] == before
        signed = {payments.HEADER: payments.sign(full_stack.webhook_secret, int(time.time()), event)}
        first = await client.post(webhook, content=event, headers=signed)
        replayed = await client.post(webhook, content=event, headers=signed)
        assert (first.status_code, replayed.status_code) == (200, 409)
        assert (await client.get(profile, headers=bearer(keys.business))).json()["balanceCents"] == before + 500

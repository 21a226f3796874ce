"""Given a fault Azure can produce, this is what the operator reports, and it converges without duplicates.

Transient faults (throttling, 5xx, dropped connections, slow, interrupted or failed long-running operations, a scope
or a permission that is not there yet) are retried and converge, and while they last the outcome names them
(throttled, Azure unavailable, or Azure's code and message); faults only a change of spec can fix (a name taken, a
bad value) and a missing credential end in a value with Azure's code and message for the Degraded condition, never
an exception.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from azure.identity import CredentialUnavailableError
from prometheus_client import REGISTRY

from fabrikam.operator.azure import (
    THROTTLED,
    UNAVAILABLE,
    AzureClients,
    Kind,
    RateLimits,
    lasting_problem,
    reconcile_platform,
    reconcile_service_identity,
)
from fabrikam.operator.render.catalog import BUNDLED_QUEUES

SENDS = {"kind": "queue", "name": "delivery-requests", "access": ["send"]}
RECEIVES = {"kind": "queue", "name": "delivery-requests", "access": ["receive"]}


async def _until_ready(reconcile: Any, *, deadline: float = 30.0) -> Any:
    """Reconcile again, as the handlers' requeue would, until ready or the deadline passes."""
    end = time.monotonic() + deadline
    while True:
        outcome = await reconcile()
        if outcome.ready or time.monotonic() > end:
            return outcome
        await asyncio.sleep(0.1)


def _assert_each_resource_created_once(fake_arm: Any) -> None:
    created = Counter(r.path for r in fake_arm.calls("PUT") if fake_arm.get(r.path) is not None)
    assert created, "nothing was created"
    for type_name in ("Microsoft.ServiceBus/namespaces", "Microsoft.Cache/redis"):
        assert len(fake_arm.paths(type_name)) <= 1


async def test_throttling_honours_retry_after_and_converges(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    fake_arm.inject("PUT", "/Microsoft.ServiceBus/namespaces/", 429, code="TooManyRequests", retry_after=1)
    start = time.monotonic()

    outcome = await reconcile_platform(make_platform(), azure)

    assert outcome.ready, outcome
    [namespace] = fake_arm.paths("Microsoft.ServiceBus/namespaces")
    puts = [r for r in fake_arm.calls("PUT") if r.path == namespace]
    assert len(puts) == 2
    assert puts[0].body == puts[1].body
    assert time.monotonic() - start >= 1.0


async def test_server_errors_are_retried_with_the_same_body(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    fake_arm.inject("PUT", "/queues/delivery-requests", 500, code="InternalServerError", times=2)

    outcome = await reconcile_platform(make_platform(), azure)

    assert outcome.ready, outcome
    bodies = [r.body for r in fake_arm.calls("PUT", "/queues/delivery-requests")]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert len(fake_arm.paths("Microsoft.ServiceBus/namespaces/queues")) == len(BUNDLED_QUEUES)


async def test_dropped_connections_are_retried(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    fake_arm.inject("PUT", "/userAssignedIdentities/", disconnect=True, times=2)

    outcome = await reconcile_service_identity(make_service("returns"), make_platform(), azure)

    assert outcome.ready, outcome
    assert len(fake_arm.paths("Microsoft.ManagedIdentity/userAssignedIdentities")) == 1


async def test_an_outage_longer_than_the_retries_is_a_retriable_value_then_converges(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    outage = fake_arm.inject("PUT", "/Microsoft.Cache/redis/", 503, code="ServiceUnavailable", times=None)
    platform = make_platform()

    during = await reconcile_platform(platform, azure)

    [redis] = [r for r in during.resources if r.kind == Kind.REDIS_CACHE]
    assert (redis.error_code, redis.retriable) == ("ServiceUnavailable", True)
    assert during.degraded is None
    assert during.requeue
    assert not during.ready
    outage.times = 0
    after = await reconcile_platform(platform, azure)
    assert after.ready
    assert len(fake_arm.paths("Microsoft.Cache/redis")) == 1


async def test_a_name_taken_is_degraded_with_azures_code_and_message(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    message = "The name 'redis-prod' is already in use. Choose another name."
    fake_arm.inject("PUT", "/Microsoft.Cache/redis/", 409, code="NameNotAvailable", message=message, times=None)

    outcome = await reconcile_platform(make_platform(), azure)

    assert outcome.degraded is not None
    assert (outcome.degraded.kind, outcome.degraded.error_code) == (Kind.REDIS_CACHE, "NameNotAvailable")
    assert outcome.degraded.error_message == message
    assert not outcome.degraded.retriable
    assert [r.ok for r in outcome.resources] == [True] * (1 + len(BUNDLED_QUEUES)) + [False]
    assert len(fake_arm.calls("PUT", "/Microsoft.Cache/redis/")) == 1


async def test_a_missing_permission_is_retried_and_stays_visible_until_granted(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    message = (
        "The client does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write'."
    )
    denied = fake_arm.inject("PUT", "/roleAssignments/", 403, code="AuthorizationFailed", message=message, times=None)
    workflow = make_service("workflow", component="workflow", uses=[RECEIVES])

    while_denied = await reconcile_service_identity(workflow, platform, azure)
    denied.times = 0  # someone granted the operator User Access Administrator on the namespace
    granted = await reconcile_service_identity(workflow, platform, azure)

    assert while_denied.degraded is None
    assert while_denied.requeue
    assert while_denied.client_id is not None
    problem = while_denied.problem
    assert problem is not None
    assert problem.reason == "AuthorizationFailed"
    assert problem.message.startswith(f"{Kind.ROLE_ASSIGNMENT} ")
    assert problem.message.endswith(f"AuthorizationFailed: {message}")
    assert lasting_problem(while_denied, 1, after_passes=5) is None
    assert lasting_problem(while_denied, 5, after_passes=5) == problem
    assert granted.ready
    assert granted.problem is None


async def test_a_credential_without_a_token_is_degraded_and_sends_nothing(
    fake_arm: Any, make_platform: Any, make_clients: Any
) -> None:
    class NoCredential:
        async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise CredentialUnavailableError("WorkloadIdentityCredential: AZURE_FEDERATED_TOKEN_FILE is not set")

        async def close(self) -> None:
            return None

    template = make_clients()
    await template.close()
    async with AzureClients(NoCredential(), template.subscription_id, template.settings) as clients:
        outcome = await reconcile_platform(make_platform(), clients)

    assert outcome.degraded is not None
    assert outcome.degraded.error_code == "AuthenticationFailed"
    assert "AZURE_FEDERATED_TOKEN_FILE" in (outcome.degraded.error_message or "")
    assert fake_arm.requests == []


async def test_a_rejected_token_is_degraded(fake_arm: Any, make_platform: Any, make_clients: Any) -> None:
    template = make_clients()
    await template.close()

    class WrongToken:
        async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken("expired", int(time.time()) + 3600)

        async def close(self) -> None:
            return None

    async with AzureClients(WrongToken(), template.subscription_id, template.settings) as clients:
        outcome = await reconcile_platform(make_platform(), clients)

    assert outcome.degraded is not None
    assert outcome.degraded.error_code == "AuthenticationFailed"
    assert fake_arm.writes() == []


async def test_a_slow_lro_reports_in_progress_without_a_second_put(
    fake_arm: Any, make_platform: Any, make_clients: Any
) -> None:
    fake_arm.lro_seconds = 2.0
    platform = make_platform()
    async with make_clients(lro_timeout=0.3) as clients:
        first = await reconcile_platform(platform, clients)
        second = await reconcile_platform(platform, clients)
        final = await _until_ready(lambda: reconcile_platform(platform, clients))

    assert not first.ready
    assert first.requeue
    assert first.degraded is None
    [namespace, *queues, redis] = first.resources
    assert namespace.provisioning_state == "InProgress"
    assert redis.provisioning_state == "InProgress"
    assert {queue.provisioning_state for queue in queues} == {"Pending"}
    assert {r.provisioning_state for r in second.resources} <= {"Creating", "Pending", "Succeeded"}
    assert final.ready
    assert set(Counter(r.path for r in fake_arm.calls("PUT")).values()) == {1}


async def test_an_operator_killed_mid_provisioning_resumes_cleanly(
    fake_arm: Any, make_platform: Any, make_clients: Any
) -> None:
    fake_arm.lro_seconds = 1.5
    platform = make_platform()
    crashed = make_clients()
    task = asyncio.create_task(reconcile_platform(platform, crashed))
    async with asyncio.timeout(10):
        await fake_arm.wait_until(lambda: len(fake_arm.calls("PUT")) == 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await crashed.close()
    assert len(fake_arm.calls("PUT")) == 2  # both LROs were started, neither finished

    async with make_clients() as restarted:
        outcome = await _until_ready(lambda: reconcile_platform(platform, restarted))

    assert outcome.ready
    assert set(Counter(r.path for r in fake_arm.calls("PUT")).values()) == {1}
    _assert_each_resource_created_once(fake_arm)


async def test_grants_wait_for_the_platform_then_converge(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    ingestion = make_service("ingestion", component="ingestion", uses=[SENDS])

    early = await reconcile_service_identity(ingestion, platform, azure)
    await reconcile_platform(platform, azure)
    later = await reconcile_service_identity(ingestion, platform, azure)

    [grant] = [r for r in early.resources if r.kind == Kind.ROLE_ASSIGNMENT]
    assert (grant.error_code, grant.error_status, grant.retriable) == ("ResourceNotFound", 404, True)
    assert early.degraded is None
    assert early.requeue
    assert later.ready
    assert later.client_id == early.client_id
    assert len(fake_arm.paths("Microsoft.Authorization/roleAssignments")) == 1


async def test_a_grant_on_a_queue_still_being_created_is_retried_until_the_queue_exists(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    [queue] = [q for q in fake_arm.paths("Microsoft.ServiceBus/namespaces/queues") if q.endswith("/delivery-requests")]
    del fake_arm.resources[queue.lower()]  # the namespace is there, the queue not yet
    ingestion = make_service("ingestion", component="ingestion", uses=[SENDS])

    early = await reconcile_service_identity(ingestion, platform, azure)
    await reconcile_platform(platform, azure)
    later = await reconcile_service_identity(ingestion, platform, azure)

    # Real ARM answers a role assignment whose scope does not exist with 404 ResourceNotFound, not a parent error.
    [grant] = [r for r in early.resources if r.kind == Kind.ROLE_ASSIGNMENT]
    assert grant.id.split("/providers/Microsoft.Authorization/")[0].endswith("/queues/delivery-requests")
    assert (grant.error_code, grant.error_status, grant.retriable) == ("ResourceNotFound", 404, True)
    assert early.degraded is None
    assert early.requeue
    assert early.problem is not None
    assert early.problem.reason == "ResourceNotFound"
    assert later.ready
    [assignment] = fake_arm.paths("Microsoft.Authorization/roleAssignments")
    assert "/queues/delivery-requests/providers/" in assignment


async def test_an_operation_that_ends_failed_with_a_server_error_is_retried_and_converges(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    fake_arm.fail_operations("/Microsoft.ServiceBus/namespaces/", "InternalServerError", "An internal error occurred.")
    platform = make_platform()

    failed = await reconcile_platform(platform, azure)
    retried = await reconcile_platform(platform, azure)

    [namespace] = [r for r in failed.resources if r.kind == Kind.SERVICE_BUS_NAMESPACE]
    # The poll that reported Failed was an HTTP 200: the operation's own error code decides.
    assert (namespace.error_code, namespace.error_status, namespace.retriable) == ("InternalServerError", None, True)
    assert namespace.error_message == "An internal error occurred."
    assert failed.degraded is None
    assert failed.problem is not None
    assert failed.problem.reason == UNAVAILABLE
    assert retried.ready
    [path] = fake_arm.paths("Microsoft.ServiceBus/namespaces")
    assert len([r for r in fake_arm.calls("PUT") if r.path == path]) == 2


async def test_an_operation_that_ends_failed_with_a_bad_request_is_degraded(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    message = "Premium messaging partitions must be 1, 2 or 4."
    fake_arm.fail_operations("/Microsoft.ServiceBus/namespaces/", "BadRequest", message)

    outcome = await reconcile_platform(make_platform(), azure)

    assert outcome.degraded is not None
    assert (outcome.degraded.kind, outcome.degraded.error_code) == (Kind.SERVICE_BUS_NAMESPACE, "BadRequest")
    assert outcome.degraded.error_message == message
    assert not outcome.degraded.retriable


async def test_throttling_beyond_the_sdks_retries_is_reported_as_throttled_not_degraded(
    fake_arm: Any, make_platform: Any, make_clients: Any
) -> None:
    throttling = fake_arm.throttle(burst=2, per_second=1)

    async with make_clients(retry_total=0) as clients:
        outcome = await reconcile_platform(make_platform(), clients)

    assert throttling.rejected > 0
    assert outcome.degraded is None
    assert outcome.requeue
    assert outcome.problem is not None
    assert outcome.problem.reason == THROTTLED
    assert "SubscriptionRequestsThrottled" in outcome.problem.message


def _limiter_waits() -> float:
    return REGISTRY.get_sample_value("fabrikam_operator_azure_limiter_waits_total", {"bucket": "write"}) or 0.0


async def test_a_throttled_subscription_converges_with_writes_paced_below_arms_rate(
    fake_arm: Any, make_platform: Any, make_service: Any, make_clients: Any
) -> None:
    throttling = fake_arm.throttle(burst=6, per_second=5)
    limits = RateLimits(write_burst=3, writes_per_second=4)
    platform = make_platform()
    services = [make_service(f"returns-{i}", uses=[SENDS]) for i in range(6)]
    waits_before = _limiter_waits()

    async with make_clients(limits=limits) as clients:
        provisioned = await reconcile_platform(platform, clients)
        granted = await asyncio.gather(*(reconcile_service_identity(s, platform, clients) for s in services))

    accepted = throttling.accepted
    span = accepted[-1] - accepted[0]
    rate = (len(accepted) - limits.write_burst) / span
    print(
        f"\n{len(accepted)} writes in {span:.2f} s: {rate:.2f}/s after the burst of {limits.write_burst:g} "
        f"(limiter {limits.writes_per_second:g}/s, fake ARM {throttling.per_second:g}/s); "
        f"{throttling.rejected} answered 429; the limiter held back {_limiter_waits() - waits_before:g} writes"
    )
    assert provisioned.ready
    assert all(outcome.ready for outcome in granted)
    assert throttling.rejected == 0
    assert rate <= limits.writes_per_second * 1.25
    assert _limiter_waits() > waits_before


async def test_a_grant_someone_already_made_counts_as_granted(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    ingestion = make_service("ingestion", component="ingestion", uses=[SENDS])
    first = await reconcile_service_identity(ingestion, platform, azure)
    [ours] = fake_arm.paths("Microsoft.Authorization/roleAssignments")
    manual = ours.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000001"
    fake_arm.resources[manual.lower()] = fake_arm.resources.pop(ours.lower())
    fake_arm.resources[manual.lower()].json["id"] = manual

    again = await reconcile_service_identity(ingestion, platform, azure)

    assert first.ready
    assert again.ready
    assert fake_arm.paths("Microsoft.Authorization/roleAssignments") == [manual]

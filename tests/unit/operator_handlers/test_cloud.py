"""The Azure plumbing of the handlers: one set of clients per subscription for the process, and a finalizer added
without overwriting or duplicating one added meanwhile."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from fabrikam.operator.apply.client import ApiError
from fabrikam.operator.azure import AzureOutcome, ResourceResult, TokenFileCredential
from fabrikam.operator.azure.results import FAILED, SUCCEEDED
from fabrikam.operator.handlers import cloud
from fabrikam.operator.handlers.settings import OperatorSettings

SETTINGS = OperatorSettings()


class RecordingApi:
    """Stands in for the operator's API connection: records JSON patches, answers as told."""

    def __init__(self, error: ApiError | None = None) -> None:
        self.patches: list[list[dict[str, Any]]] = []
        self.error = error

    async def json_patch(self, obj: dict[str, Any], operations: list[dict[str, Any]]) -> None:
        self.patches.append(operations)
        if self.error is not None:
            raise self.error


@pytest.fixture
def api() -> RecordingApi:
    return RecordingApi()


def _body(finalizers: list[str] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "prod"}
    if finalizers is not None:
        metadata["finalizers"] = finalizers
    return {"metadata": metadata}


async def test_the_first_finalizer_is_added_only_while_there_is_none(api: RecordingApi) -> None:
    body = _body(None)

    await cloud.ensure_finalizer(api, body)

    # A `null` test passes only while the list is absent: a list someone created meanwhile is not replaced.
    assert api.patches == [
        [
            {"op": "test", "path": "/metadata/finalizers", "value": None},
            {"op": "add", "path": "/metadata/finalizers", "value": [cloud.FINALIZER]},
        ]
    ]
    assert body["metadata"]["finalizers"] == [cloud.FINALIZER]


async def test_a_finalizer_is_appended_to_the_list_as_read(api: RecordingApi) -> None:
    body = _body(["kopf.zalando.org/KopfFinalizerMarker"])

    await cloud.ensure_finalizer(api, body)

    assert api.patches == [
        [
            {"op": "test", "path": "/metadata/finalizers", "value": ["kopf.zalando.org/KopfFinalizerMarker"]},
            {"op": "add", "path": "/metadata/finalizers/-", "value": cloud.FINALIZER},
        ]
    ]
    assert body["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker", cloud.FINALIZER]


async def test_a_finalizer_already_there_sends_nothing(api: RecordingApi) -> None:
    await cloud.ensure_finalizer(api, _body([cloud.FINALIZER]))

    assert api.patches == []


async def test_finalizers_changed_meanwhile_retry_the_handler_instead_of_overwriting(api: RecordingApi) -> None:
    api.error = ApiError(422, "Unprocessable Entity", '{"message": "the server rejected our request: test failed"}')
    body = _body(None)

    with pytest.raises(kopf.TemporaryError, match="finalizers changed"):
        await cloud.ensure_finalizer(api, body)

    assert "finalizers" not in body["metadata"]


async def test_other_api_errors_are_not_mistaken_for_a_race(api: RecordingApi) -> None:
    api.error = ApiError(403, "Forbidden", "{}")

    with pytest.raises(ApiError):
        await cloud.ensure_finalizer(api, _body(None))


def _platform(subscription: str) -> Any:
    """All `AzureClientPool.for_platform` reads of a platform: its subscription."""
    return SimpleNamespace(spec=SimpleNamespace(azure=SimpleNamespace(subscription_id=subscription)))


async def test_clients_are_built_once_per_subscription_and_closed_at_shutdown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    settings = OperatorSettings(azure_token_file=str(token), azure_write_burst=7, azure_writes_per_second=3)
    pool = cloud.AzureClientPool(settings)
    first_sub, second_sub = "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b2"

    first = pool.for_platform(_platform(first_sub))
    again = pool.for_platform(_platform(first_sub))
    other = pool.for_platform(_platform(second_sub))
    closed: list[str] = []
    for clients in (first, other):
        monkeypatch.setattr(clients, "close", lambda c=clients: _record_close(closed, c.subscription_id))
    await pool.close()

    assert again is first
    assert other is not first
    assert first.limiter is not other.limiter
    assert first.credential is other.credential
    assert isinstance(first.credential, TokenFileCredential)
    assert (first.limiter.limits.write_burst, first.limiter.limits.writes_per_second) == (7, 3)
    assert sorted(closed) == [first_sub, second_sub]
    assert pool.for_platform(_platform(first_sub)) is not first
    await pool.close()


async def _record_close(closed: list[str], subscription_id: str) -> None:
    closed.append(subscription_id)


def _failing(code: str, status: int | None, *, retriable: bool) -> AzureOutcome:
    return AzureOutcome.of(
        [
            ResourceResult(kind="Identity", name="ok", id="/i", provisioning_state=SUCCEEDED),
            ResourceResult(
                kind="RoleAssignment",
                name="ra",
                id="/ra",
                provisioning_state=FAILED,
                error_code=code,
                error_message="Azure's own words",
                error_status=status,
                retriable=retriable,
            ),
        ]
    )


@pytest.mark.parametrize(
    ("code", "status", "lasting"),
    [
        ("SubscriptionRequestsThrottled", 429, "AzureThrottled"),
        ("InternalServerError", 500, "AzureUnavailable"),
        ("AuthorizationFailed", 403, "AzureError"),
    ],
)
def test_a_retriable_failure_waits_with_azures_words_then_is_degraded_once_it_lasts(
    code: str, status: int, lasting: str
) -> None:
    """Issue #14 item 6: retried with growing backoff, not Ready meanwhile, Degraded after five passes in a row."""
    after = SETTINGS.azure_problem_after_passes
    first = cloud.verdict(_failing(code, status, retriable=True), 0, "still provisioning", after_passes=after)
    assert first.problems == []
    assert first.waiting is not None
    assert "Azure's own words" in first.waiting
    assert first.failed_passes == 1
    late = cloud.verdict(_failing(code, status, retriable=True), after - 1, "still provisioning", after_passes=after)
    assert late.failed_passes == after
    assert [problem.reason for problem in late.problems] == [lasting]
    assert "Azure's own words" in late.problems[0].message
    # The backoff grows with the failures and stays under its cap.
    cap = SETTINGS.azure_retry_max_seconds
    assert all(1.0 <= cloud.retry_in(n, SETTINGS) <= cap for n in range(12))
    healed = cloud.verdict(AzureOutcome.of([]), after, "still provisioning", after_passes=after)
    assert (healed.problems, healed.waiting, healed.failed_passes) == ([], None, 0)


def test_a_failure_only_a_person_can_fix_is_degraded_at_once() -> None:
    found = cloud.verdict(_failing("NameNotAvailable", 409, retriable=False), 0, "still provisioning", after_passes=5)
    assert [problem.reason for problem in found.problems] == ["AzureError"]
    assert found.waiting is None

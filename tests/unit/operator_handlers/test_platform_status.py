"""The platform's status as a person reads it in `kubectl get deliveryplatform`: "8/8" per team and overall, Ready
only when every service is Ready for its current generation, the Azure parts kept or dropped with the spec."""

from typing import Any

from fabrikam.operator.handlers.report import LastReconcile, platform_status

TEAMS = [("shipping", "ship"), ("fleet", "fleet")]


def _service(namespace: str, name: str, *, ready: bool, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name, "generation": generation},
        "status": {
            "observedGeneration": observed,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "R", "message": ""}],
        },
    }


def _platform(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "generation": 3}, "spec": spec, "status": {}}


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_services_ready_per_team_and_overall() -> None:
    services = [
        _service("ship", "ingestion", ready=True),
        _service("ship", "workflow", ready=False),
        _service("fleet", "drone-scheduler", ready=True),
    ]
    status = platform_status(_platform(), LastReconcile(3), services, TEAMS)

    assert status is not None
    assert status["servicesReady"] == "2/3"
    assert status["teams"] == [
        {"name": "shipping", "namespace": "ship", "servicesReady": "1/2"},
        {"name": "fleet", "namespace": "fleet", "servicesReady": "1/1"},
    ]
    assert status["observedGeneration"] == 3
    assert _conditions(status)["Ready"][0] == "False"
    assert _conditions(status)["Reconciling"][0] == "True"


def test_ready_only_when_every_service_is_ready_at_its_current_generation() -> None:
    fresh = [_service("ship", "ingestion", ready=True), _service("fleet", "drone-scheduler", ready=True)]
    status = platform_status(_platform(), LastReconcile(3), fresh, TEAMS)
    assert status is not None
    assert _conditions(status)["Ready"][0] == "True"
    assert _conditions(status)["Stalled"][0] == "False"

    # A Ready left over from the previous generation does not count.
    stale = [_service("ship", "ingestion", ready=True, generation=3, observed=2), fresh[1]]
    status = platform_status(_platform(), LastReconcile(3), stale, TEAMS)
    assert status is not None
    assert status["servicesReady"] == "1/2"
    assert _conditions(status)["Ready"][0] == "False"


def test_a_restarted_operator_that_has_not_reconciled_writes_nothing_over_a_stored_status() -> None:
    body = _platform()
    body["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "R", "message": ""}]}
    assert platform_status(body, None, [], TEAMS) is None
    first = platform_status(_platform(), None, [], TEAMS)
    assert first is not None
    assert _conditions(first)["Ready"][0] == "Unknown"
    assert first["observedGeneration"] is None


def test_azure_resources_and_recovery_are_kept_while_the_spec_has_them_and_dropped_when_it_no_longer_does() -> None:
    resources = [{"kind": "RedisCache", "name": "redis-p", "state": "Succeeded"}]
    outcome = LastReconcile(3, azure=resources, recovery=[{"store": "Redis", "meetsTargets": True}])
    kept = platform_status(_platform(azure={"location": "westus2"}, recovery={}), outcome, [], TEAMS)
    assert kept is not None
    assert kept["azureResources"] == resources
    assert kept["recovery"] == [{"store": "Redis", "meetsTargets": True}]

    body = _platform()
    body["status"] = {"azureResources": resources, "recovery": [{"store": "Redis"}], "conditions": []}
    dropped = platform_status(body, LastReconcile(3), [], TEAMS)
    assert dropped is not None
    # null in a merge patch removes the stale lists
    assert dropped["azureResources"] is None
    assert dropped["recovery"] is None


def test_a_stalled_service_stalls_the_platform_with_its_name() -> None:
    stalled = _service("ship", "ingestion", ready=False)
    stalled["status"]["conditions"].append(
        {"type": "Stalled", "status": "True", "reason": "ImageNotAllowed", "message": "", "observedGeneration": 2}
    )
    status = platform_status(_platform(), LastReconcile(3), [stalled], TEAMS)
    assert status is not None
    state, reason = _conditions(status)["Stalled"]
    assert state == "True"
    assert reason == "ServiceStalled"
    assert "ship/ingestion: ImageNotAllowed" in next(
        c["message"] for c in status["conditions"] if c["type"] == "Stalled"
    )

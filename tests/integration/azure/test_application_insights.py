"""Given spec.observability.applicationInsights, the real azure-mgmt-applicationinsights client against the fake ARM
creates the platform's workspace-based component once, sends nothing more while Azure holds it as asked, hands its
connection string to the services through the status, deletes it with the platform, and reports Azure's refusal."""

from __future__ import annotations

from typing import Any

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, delete_platform, reconcile_platform
from fabrikam.operator.handlers.facts import platform_endpoints
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.service import ServiceFacts, environment

WORKSPACE = (
    "/subscriptions/00000000-0000-0000-0000-00000000a2e0/resourceGroups/rg-monitoring"
    "/providers/Microsoft.OperationalInsights/workspaces/log-shared"
)
COMPONENTS = "/Microsoft.Insights/components/"


def _with_insights(platform: DeliveryPlatform) -> DeliveryPlatform:
    observability = platform.spec.observability.model_validate(
        {"applicationInsights": {"workspaceResourceId": WORKSPACE}}
    )
    return platform.model_copy(update={"spec": platform.spec.model_copy(update={"observability": observability})})


def _component(outcome: Any) -> Any:
    [component] = [r for r in outcome.resources if r.kind is Kind.APPLICATION_INSIGHTS]
    return component


async def test_the_component_is_created_once_and_its_connection_string_reaches_every_service(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    fake_arm.add_workspace(WORKSPACE)
    platform = _with_insights(make_platform())

    outcome = await reconcile_platform(platform, azure)

    assert outcome.ready, outcome
    component = _component(outcome)
    assert component.id.endswith(f"/resourceGroups/rg-fabrikam-test/providers{COMPONENTS}appi-prod")
    [put] = fake_arm.calls("PUT", COMPONENTS)
    assert put.api_version == "2020-02-02"
    assert put.body["kind"] == "web"
    assert put.body["properties"] == {
        "Application_Type": "web",
        "WorkspaceResourceId": WORKSPACE,
        "IngestionMode": "LogAnalytics",
    }
    assert {"platform": "prod", "service": "applicationinsights", "cost-center": "cc-1234"}.items() <= put.body[
        "tags"
    ].items()
    held = fake_arm.get(component.id)
    assert component.endpoint == held["properties"]["ConnectionString"]
    assert component.endpoint.startswith(f"InstrumentationKey={held['properties']['InstrumentationKey']};")

    # The status carries it as the component's endpoint; every service's ConfigMap gets it from there.
    status = {"status": {"azureResources": [s.model_dump(by_alias=True) for s in outcome.statuses()]}}
    facts = ServiceFacts(azure_endpoints=platform_endpoints(status))
    for svc in bundled_services(platform):
        assert environment(svc, platform=platform, facts=facts)["APPLICATIONINSIGHTS_CONNECTION_STRING"] == (
            component.endpoint
        )


async def test_a_second_pass_sends_nothing_and_a_drifted_workspace_is_put_back(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    fake_arm.add_workspace(WORKSPACE)
    platform = _with_insights(make_platform())
    first = _component(await reconcile_platform(platform, azure))
    writes = len(fake_arm.writes())

    again = await reconcile_platform(platform, azure)

    assert again.ready
    assert len(fake_arm.writes()) == writes
    assert _component(again).endpoint == first.endpoint

    other = WORKSPACE.replace("log-shared", "log-other")
    fake_arm.add_workspace(other)
    fake_arm.tamper(first.id, lambda held: held["properties"].update(WorkspaceResourceId=other))
    repaired = await reconcile_platform(platform, azure)

    assert repaired.ready
    assert len(fake_arm.calls("PUT", COMPONENTS)) == 2
    assert fake_arm.get(first.id)["properties"]["WorkspaceResourceId"] == WORKSPACE
    # The same component: its connection string (instrumentation key) survives the repair.
    assert _component(repaired).endpoint == first.endpoint


async def test_the_component_is_deleted_with_the_platform(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    fake_arm.add_workspace(WORKSPACE)
    platform = _with_insights(make_platform(deletionPolicy="Delete"))
    component = _component(await reconcile_platform(platform, azure))

    gone = await delete_platform(platform, azure)

    assert gone.ready, gone
    assert _component(gone).provisioning_state == "Deleted"
    assert fake_arm.get(component.id) is None
    assert [c.path for c in fake_arm.calls("DELETE", COMPONENTS)] == [component.id]


async def test_a_workspace_azure_does_not_know_is_degraded_with_azures_message(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    outcome = await reconcile_platform(_with_insights(make_platform()), azure)

    assert outcome.degraded is not None
    assert (outcome.degraded.kind, outcome.degraded.error_code) == (Kind.APPLICATION_INSIGHTS, "BadRequest")
    assert outcome.degraded.error_message == f"Workspace {WORKSPACE} was not found."
    assert not outcome.degraded.retriable
    # What the Degraded condition and its Event say.
    assert outcome.degraded.describe_failure() == (
        f"ApplicationInsightsComponent appi-prod: BadRequest: Workspace {WORKSPACE} was not found."
    )
    # The stores are not held back by the component.
    assert all(r.ok for r in outcome.resources if r.kind is not Kind.APPLICATION_INSIGHTS)

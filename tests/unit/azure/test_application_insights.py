"""Application Insights as a specification: given spec.observability.applicationInsights, the component's ARM body,
the connection string in every service's environment, the way out to Azure Monitor, and the errors naming the
field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, EgressKind
from fabrikam.operator.azure import Kind
from fabrikam.operator.azure.desired import application_insights, owned_resources, unnamed_stores
from fabrikam.operator.azure.drift import differences
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.network import egress_kinds
from fabrikam.operator.render.service import APPLICATION_INSIGHTS_KIND, ServiceFacts, environment

WORKSPACE = (
    "/subscriptions/00000000-0000-0000-0000-00000000a2e0/resourceGroups/rg-monitoring"
    "/providers/Microsoft.OperationalInsights/workspaces/log-shared"
)
CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
    "IngestionEndpoint=https://westus2-0.in.applicationinsights.azure.com/"
)


def _with_insights(make_platform: Any, **spec: Any) -> DeliveryPlatform:
    platform: DeliveryPlatform = make_platform(
        observability={"applicationInsights": {"workspaceResourceId": WORKSPACE}}, **spec
    )
    return platform


def test_the_component_is_workspace_based_tagged_and_follows_the_deletion_policy(make_platform: Any) -> None:
    found = application_insights(_with_insights(make_platform, azure={"deletionPolicy": "Delete"}))

    assert found is not None
    assert found.kind is Kind.APPLICATION_INSIGHTS
    assert found.id == (
        "/subscriptions/00000000-0000-0000-0000-00000000a2e0/resourceGroups/rg-fabrikam"
        "/providers/Microsoft.Insights/components/appi-prod"
    )
    assert found.body["kind"] == "web"
    assert found.body["properties"] == {
        "Application_Type": "web",
        "WorkspaceResourceId": WORKSPACE,
        "IngestionMode": "LogAnalytics",
    }
    assert found.body["tags"]["service"] == "applicationinsights"
    assert found.body["tags"]["managed-by"]
    assert found.deletion_policy.value == "Delete"


def test_without_the_field_there_is_no_component(make_platform: Any) -> None:
    platform = make_platform()

    assert application_insights(platform) is None
    assert not [r for r in owned_resources(platform, today=date(2026, 1, 1)) if r.kind is Kind.APPLICATION_INSIGHTS]


def test_the_component_is_owned_by_the_platform_and_goes_when_the_field_does(make_platform: Any) -> None:
    before = _with_insights(make_platform)
    kinds = [r.kind for r in owned_resources(before, today=date(2026, 1, 1))]

    assert Kind.APPLICATION_INSIGHTS in kinds
    assert [r.kind for r in unnamed_stores(before, make_platform())] == [Kind.APPLICATION_INSIGHTS]


def test_what_azure_adds_to_the_component_is_no_drift_but_another_workspace_is(make_platform: Any) -> None:
    found = application_insights(_with_insights(make_platform))
    assert found is not None
    held: dict[str, Any] = {
        **found.body,
        "location": "West US 2",
        "properties": {**found.body["properties"], "ConnectionString": CONNECTION_STRING, "provisioningState": "x"},
    }
    assert differences(found.compared_body(), held) == []

    held["properties"]["WorkspaceResourceId"] = WORKSPACE.replace("log-shared", "log-other")
    assert differences(found.compared_body(), held) == ["properties.WorkspaceResourceId"]


def test_every_service_gets_the_connection_string_once_azure_answered(make_platform: Any) -> None:
    platform = _with_insights(make_platform)
    facts = ServiceFacts(azure_endpoints={APPLICATION_INSIGHTS_KIND: CONNECTION_STRING})

    for svc in bundled_services(platform):
        env = environment(svc, platform=platform, facts=facts)
        assert env["APPLICATIONINSIGHTS_CONNECTION_STRING"] == CONNECTION_STRING


def test_before_azure_answered_the_key_is_there_and_empty(make_platform: Any) -> None:
    platform = _with_insights(make_platform)
    svc = bundled_services(platform)[0]

    assert environment(svc, platform=platform, facts=ServiceFacts())["APPLICATIONINSIGHTS_CONNECTION_STRING"] == ""


def test_without_application_insights_no_service_gets_the_key(make_platform: Any) -> None:
    platform = make_platform()
    facts = ServiceFacts(azure_endpoints={APPLICATION_INSIGHTS_KIND: CONNECTION_STRING})

    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" not in environment(
        bundled_services(platform)[0], platform=platform, facts=facts
    )


def test_both_destinations_are_set_and_the_services_choose_application_insights(make_platform: Any) -> None:
    platform = make_platform(
        observability={
            "otlpEndpoint": "http://collector.observability:4318",
            "applicationInsights": {"workspaceResourceId": WORKSPACE},
        }
    )
    facts = ServiceFacts(azure_endpoints={APPLICATION_INSIGHTS_KIND: CONNECTION_STRING})

    env = environment(bundled_services(platform)[0], platform=platform, facts=facts)

    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector.observability:4318"
    assert env["APPLICATIONINSIGHTS_CONNECTION_STRING"] == CONNECTION_STRING


def test_the_render_names_the_same_kind_as_the_azure_layer() -> None:
    assert Kind.APPLICATION_INSIGHTS.value == APPLICATION_INSIGHTS_KIND


def test_services_may_reach_azure_monitor_through_the_observability_egress_rules(make_platform: Any) -> None:
    with_insights, without = _with_insights(make_platform), make_platform()

    assert EgressKind.OBSERVABILITY in egress_kinds(bundled_services(with_insights)[0], with_insights)
    assert EgressKind.OBSERVABILITY not in egress_kinds(bundled_services(without)[0], without)


def test_the_workspace_is_required_and_the_error_names_the_field(make_platform: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        make_platform(observability={"applicationInsights": {}})

    assert "workspaceResourceId" in str(raised.value) or "workspace_resource_id" in str(raised.value)


def test_the_workspace_must_be_a_log_analytics_workspace_id(make_platform: Any) -> None:
    with pytest.raises(ValidationError, match="workspace"):
        make_platform(observability={"applicationInsights": {"workspaceResourceId": "log-shared"}})


def test_application_insights_needs_spec_azure(make_platform: Any) -> None:
    doc = _with_insights(make_platform).model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("azure", "messaging", "cache"):
        doc["spec"].pop(key)

    with pytest.raises(ValidationError, match=r"spec\.observability\.applicationInsights needs spec\.azure"):
        DeliveryPlatform.model_validate(doc)

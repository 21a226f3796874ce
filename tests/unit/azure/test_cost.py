"""Cost as a specification: the budget's ARM body, and the tags every resource carries."""

from __future__ import annotations

from datetime import date
from typing import Any

from fabrikam.operator.azure import Kind, platform_resources
from fabrikam.operator.azure.desired import budget, owned_resources, unnamed_stores
from fabrikam.operator.azure.drift import differences

BUDGET = {"amount": 2500, "contactEmails": ["b@fabrikam.example", "a@fabrikam.example"], "thresholds": [90, 50]}


def test_the_budget_alerts_each_threshold_of_spend_and_a_forecast_over_the_amount(make_platform: Any) -> None:
    found = budget(make_platform(cost={"budget": BUDGET}), today=date(2026, 11, 30))

    assert found is not None
    assert found.kind is Kind.BUDGET
    assert found.id == (
        "/subscriptions/00000000-0000-0000-0000-00000000a2e0/resourceGroups/rg-fabrikam"
        "/providers/Microsoft.Consumption/budgets/budget-prod"
    )
    properties = found.body["properties"]
    assert properties["amount"] == 2500
    assert properties["timeGrain"] == "Monthly"
    assert properties["timePeriod"] == {"startDate": "2026-11-01T00:00:00Z"}  # this month's first day
    notifications = properties["notifications"]
    assert sorted(notifications) == ["actual-50", "actual-90", "forecast-100"]
    assert notifications["forecast-100"]["thresholdType"] == "Forecasted"
    assert {n["threshold"] for k, n in notifications.items() if k.startswith("actual")} == {50, 90}
    assert all(n["contactEmails"] == ["a@fabrikam.example", "b@fabrikam.example"] for n in notifications.values())


def test_the_start_date_azure_fixed_is_no_drift_but_the_amount_is(make_platform: Any) -> None:
    found = budget(make_platform(cost={"budget": BUDGET}), today=date(2026, 12, 2))
    assert found is not None
    held = {"eTag": '"1"', "properties": dict(found.body["properties"]) | {"currentSpend": {"amount": 12.5}}}
    held["properties"]["timePeriod"] = {"startDate": "2026-06-01T00:00:00Z"}

    assert differences(found.compared_body(), held) == []
    held["properties"]["amount"] = 1000
    assert differences(found.compared_body(), held) == ["properties.amount"]


def test_no_budget_without_a_spec_and_a_dropped_budget_is_released(make_platform: Any) -> None:
    with_budget = make_platform(cost={"budget": BUDGET})
    without = make_platform()

    assert budget(without, today=date(2026, 11, 30)) is None
    assert [r.kind for r in owned_resources(with_budget, today=date(2026, 11, 30))][-1] is Kind.BUDGET
    assert [r.kind for r in unnamed_stores(with_budget, without)] == [Kind.BUDGET]


def test_resources_are_tagged_with_the_profile_as_their_environment_unless_the_spec_names_one(
    make_platform: Any,
) -> None:
    staging = make_platform(profile="staging")
    named = make_platform(profile="staging", azure={"tags": {"environment": "qa"}})

    assert {r.body["tags"]["environment"] for r in platform_resources(staging) if "tags" in r.body} == {"staging"}
    assert {r.body["tags"]["environment"] for r in platform_resources(named) if "tags" in r.body} == {"qa"}
    tags = next(r.body["tags"] for r in platform_resources(staging) if r.kind is Kind.REDIS_CACHE)
    assert {"team", "cost-center", "environment", "platform", "managed-by"} <= set(tags)

"""The errors the kit answers on every route, declared in the OpenAPI from what each operation is."""

from typing import Any

import pytest

from fabrikam.workloads.kit.openapi import PROBLEM_REF, with_kit_errors

SECURED = [{"HTTPBearer": []}]
JSON_BODY = {"content": {"application/json": {"schema": {}}}}
FORM_BODY = {"content": {"application/x-www-form-urlencoded": {"schema": {}}}}


def declared_for(operation: dict[str, Any]) -> list[str]:
    document = with_kit_errors({"paths": {"/x": {"post": {"responses": {"200": {}}, **operation}}}})
    return sorted(document["paths"]["/x"]["post"]["responses"])


@pytest.mark.parametrize(
    ("operation", "statuses"),
    [
        ({}, ["200", "503"]),
        ({"security": SECURED}, ["200", "401", "403", "503"]),
        ({"requestBody": JSON_BODY}, ["200", "400", "503"]),
        ({"requestBody": FORM_BODY}, ["200", "503"]),
        ({"security": SECURED, "requestBody": JSON_BODY}, ["200", "400", "401", "403", "503"]),
        ({"tags": ["health"]}, ["200"]),
    ],
)
def test_each_operation_declares_what_the_kit_answers_for_it(operation: dict[str, Any], statuses: list[str]) -> None:
    assert declared_for(operation) == statuses


def test_a_routes_own_declaration_wins_and_a_second_pass_changes_nothing() -> None:
    own = {"description": "Not ready", "content": {"application/json": {"schema": {"$ref": "#/r"}}}}
    document = {"paths": {"/readyz": {"get": {"responses": {"503": own}}}}}
    once = with_kit_errors(document)
    assert once["paths"]["/readyz"]["get"]["responses"]["503"] == own
    twice = with_kit_errors(once)
    assert twice == once
    assert twice["components"]["schemas"]["Problem"]["required"] == ["detail"]


def test_the_kit_errors_have_the_problem_body() -> None:
    document = with_kit_errors({"paths": {"/x": {"get": {"responses": {}, "security": SECURED}}}})
    answer = document["paths"]["/x"]["get"]["responses"]["401"]
    assert answer["content"]["application/json"]["schema"] == PROBLEM_REF

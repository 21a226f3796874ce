"""The catalog of audit rules stays true: every remedy names fields the API models have, and docs/audit.md lists
every rule with its severity."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fabrikam.cli.audit.rules import BY_ID, RULES
from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.crd import model_schema

DOCS = Path(__file__).resolve().parents[3] / "docs" / "audit.md"
SCHEMAS = {"DroneService": model_schema(DroneService), "DeliveryPlatform": model_schema(DeliveryPlatform)}


def resolve(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """`spec.teams[].quota.cpu` in a structural schema; KeyError when a field does not exist."""
    node = schema
    for part in path.split("."):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    return node


@pytest.mark.parametrize("field", sorted({f for rule in RULES for f in rule.fields}))
def test_every_field_a_fix_names_exists_in_the_api(field: str) -> None:
    kind, path = field.split(" ", 1)
    resolve(SCHEMAS[kind], path)


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_fix_names_a_field_or_a_platform_setting(rule: Any) -> None:
    assert rule.fix.startswith(("DroneService", "DeliveryPlatform", "Platform setting"))
    for field in rule.fields:
        path = field.split(" ", 1)[1]
        assert path.rsplit(".", 1)[-1].removesuffix("[]") in rule.fix, (rule.id, field)


def test_rule_ids_are_unique_and_kebab_case() -> None:
    assert len(BY_ID) == len(RULES)
    assert all(re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", rule.id) for rule in RULES)


def test_the_user_doc_lists_every_rule_with_its_severity() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (\w+) \| ([^|]+) \|", DOCS.read_text(), flags=re.MULTILINE)
    assert [(rule, severity, seed.strip()) for rule, severity, seed in rows] == [
        (rule.id, rule.severity.value, rule.seed) for rule in RULES
    ]

"""The CRDs are generated from the models, structural, committed, and carry the apiserver-side rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.operator.api.crd import KINDS, SchemaError, custom_resource_definition, generated_files, structural

ROOT = Path(__file__).resolve().parents[3]


def _schema(plural: str) -> dict[str, Any]:
    kind = next(k for k in KINDS if k.plural == plural)
    schema: dict[str, Any] = custom_resource_definition(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("folder", ["crds", "charts/operator/crds"])
def test_committed_crds_match_the_models(folder: str) -> None:
    committed = {p.name: p.read_text() for p in (ROOT / folder).glob("*.yaml")}
    assert committed == generated_files(), f"{folder}/ is stale: run `make crds` (fabrikam crds --write)"


@pytest.mark.parametrize("plural", ["deliveryplatforms", "droneservices"])
def test_schemas_are_structural(plural: str) -> None:
    for path, node in _nodes(_schema(plural)):
        assert "type" in node, f"{path} has no type"
        assert not {"$ref", "anyOf", "allOf", "oneOf", "nullable", "title", "const"} & node.keys(), path
        assert not ("properties" in node and "additionalProperties" in node), path


@pytest.mark.parametrize("plural", ["deliveryplatforms", "droneservices"])
def test_every_string_and_list_is_bounded_so_cel_cost_is_estimable(plural: str) -> None:
    root = _schema(plural)["properties"]
    for path, node in [*_nodes(root["spec"], "spec"), *_nodes(root["status"], "status")]:
        if node["type"] == "string" and "enum" not in node and "format" not in node:
            assert "maxLength" in node, f"{path} is an unbounded string"
        if node["type"] == "array":
            assert "maxItems" in node, f"{path} is an unbounded list"


@pytest.mark.parametrize("plural", ["deliveryplatforms", "droneservices"])
def test_spec_fields_are_described_for_kubectl_explain(plural: str) -> None:
    spec = _schema(plural)["properties"]["spec"]
    undocumented = [name for name, child in spec["properties"].items() if not child.get("description")]
    assert undocumented == []


def test_every_cel_rule_has_a_message_naming_a_field() -> None:
    rules = [
        rule
        for plural in ("deliveryplatforms", "droneservices")
        for _, node in _nodes(_schema(plural))
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 10
    for rule in rules:
        assert "." in rule["message"].split(" ")[0] or "[]" in rule["message"], rule["message"]
        assert rule.get("reason", "FieldValueInvalid") in {
            "FieldValueInvalid",
            "FieldValueForbidden",
            "FieldValueRequired",
            "FieldValueDuplicate",
        }


def test_drone_service_rules_cover_replicas_resources_and_image() -> None:
    spec = _schema("droneservices")["properties"]["spec"]["properties"]
    assert spec["autoscaling"]["properties"]["minReplicas"]["minimum"] == 2
    assert spec["autoscaling"]["x-kubernetes-validations"][0]["rule"] == "self.minReplicas <= self.maxReplicas"
    resource_rules = [r["rule"] for r in spec["resources"]["x-kubernetes-validations"]]
    assert "quantity(self.limits.cpu).compareTo(quantity(self.requests.cpu)) >= 0" in resource_rules
    assert spec["image"]["properties"]["digest"]["pattern"] == "^sha256:[a-f0-9]{64}$"
    assert spec["image"]["required"] == ["repository", "digest"]
    assert spec["resources"]["required"] == ["requests", "limits"]


def test_defaults_are_spelled_out_so_cel_rules_hold_on_them() -> None:
    spec = _schema("droneservices")["properties"]["spec"]["properties"]
    assert spec["autoscaling"]["default"] == {"minReplicas": 2, "maxReplicas": 10, "targetCpuUtilizationPercentage": 70}
    assert spec["disruption"]["default"] == {"maxUnavailable": 1}
    assert spec["component"]["default"] == "custom"


def test_optional_fields_are_plain_optional_properties() -> None:
    expose = _schema("droneservices")["properties"]["spec"]["properties"]["expose"]
    assert expose["type"] == "object"
    assert "default" not in expose
    assert "expose" not in _schema("droneservices")["properties"]["spec"].get("required", [])


def test_team_namespace_rule_and_unique_namespaces() -> None:
    teams = _schema("deliveryplatforms")["properties"]["spec"]["properties"]["teams"]
    assert teams["x-kubernetes-list-type"] == "map"
    assert "exists_one" in teams["x-kubernetes-validations"][0]["rule"]
    namespace_rule = teams["items"]["properties"]["namespace"]["x-kubernetes-validations"][0]["rule"]
    assert "'default'" in namespace_rule
    assert "kube-" in namespace_rule


@pytest.mark.parametrize(
    ("plural", "scope", "columns"),
    [
        ("deliveryplatforms", "Cluster", ["Profile", "Services", "Backing", "Ready", "Reason", "Age"]),
        ("droneservices", "Namespaced", ["Component", "Replicas", "Ready", "Reason", "Age"]),
    ],
)
def test_status_subresource_printer_columns_and_names(plural: str, scope: str, columns: list[str]) -> None:
    crd = yaml.safe_load(generated_files()[f"dronedelivery.fabrikam.io_{plural}.yaml"])
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["scope"] == scope
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == columns
    assert crd["spec"]["names"]["categories"] == ["fabrikam"]
    assert crd["spec"]["names"]["shortNames"]
    conditions = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    condition = conditions["items"]["properties"]
    assert condition["lastTransitionTime"]["format"] == "date-time"
    assert condition["status"]["enum"] == ["True", "False", "Unknown"]


def test_drone_service_names_are_bounded_for_child_names() -> None:
    assert _schema("droneservices")["properties"]["metadata"]["properties"]["name"]["maxLength"] == 47


def test_unions_are_refused_rather_than_emitted() -> None:
    with pytest.raises(SchemaError):
        structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})


def test_no_json_schema_2020_bounds_that_a_structural_schema_refuses() -> None:
    """OpenAPI v3.0 (what the apiserver takes) has boolean exclusiveMinimum/Maximum; pydantic's gt/lt write numbers."""
    for name, text in generated_files().items():
        assert "exclusiveMaximum" not in text, name
        for line in text.splitlines():
            if "exclusiveMinimum:" in line:
                assert line.split(":", 1)[1].strip() in ("true", "false"), (name, line)

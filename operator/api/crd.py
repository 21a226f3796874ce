"""Generates the apiextensions.k8s.io/v1 CRDs from the pydantic models.

Pydantic's JSON schema is not a Kubernetes *structural* schema: it uses `$ref`, `anyOf` with `null` for
optional fields, `const`, `title` and `additionalProperties: false`. `structural()` rewrites it into the form
the apiserver accepts, keeping descriptions (for `kubectl explain`), defaults, enums, formats, patterns and the
`x-kubernetes-*` extensions the models declare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel

from fabrikam.operator.api import platform, service
from fabrikam.operator.api.base import GROUP, VERSION

Schema = dict[str, Any]

_DROPPED = {"title", "$defs"}
_READY = '.status.conditions[?(@.type=="Ready")]'


class SchemaError(ValueError):
    """The models use a construct that has no structural-schema equivalent."""


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline `$ref` (and pydantic's single-element `allOf`); sibling keys win, validation lists add up."""
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**{k: v for k, v in node.items() if k != "allOf"}, **node["allOf"][0]}
    if "$ref" not in node:
        return node
    target = dict(defs[node["$ref"].rsplit("/", 1)[-1]])
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "x-kubernetes-validations":
            target[key] = [*target.get(key, []), *value]
        else:
            target[key] = value
    return _resolve(target, defs)


def _without_null(node: Schema) -> Schema:
    """`X | None` becomes an optional X: structural schemas have no nullable unions."""
    if "anyOf" not in node:
        return node
    branches = [b for b in node["anyOf"] if b.get("type") != "null"]
    if len(branches) != 1:
        raise SchemaError(f"unions are not expressible in a structural schema: {node['anyOf']}")
    merged = {**{k: v for k, v in node.items() if k != "anyOf"}, **branches[0]}
    for key, value in node.items():
        if key == "x-kubernetes-validations" and key in branches[0]:
            merged[key] = [*branches[0][key], *value]
    if merged.get("default", 0) is None:
        del merged["default"]
    return merged


def _enum_type(values: list[Any]) -> str:
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    raise SchemaError(f"mixed enum {values}")


def structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Rewrites one pydantic JSON-schema node (recursively) into a structural schema node."""
    node = _without_null(_resolve(node, defs))
    node = _without_null(_resolve(node, defs))
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "additionalProperties" and value is False):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: structural(child, defs) for name, child in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = structural(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = _enum_type(out["enum"])
    if "type" not in out:
        raise SchemaError(f"every node of a structural schema needs a type: {node}")
    return _ordered(out)


_ORDER = ("description", "type", "format", "enum", "default")


def _ordered(node: Schema) -> Schema:
    """Stable, readable key order: description and type first."""
    head = {k: node[k] for k in _ORDER if k in node}
    return head | {k: v for k, v in node.items() if k not in head}


def model_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of one model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


@dataclass(frozen=True)
class CrdKind:
    """What distinguishes one of our CRDs from the other."""

    kind: str
    plural: str
    scope: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    root: type[BaseModel]
    columns: tuple[Schema, ...]
    metadata: Schema = field(default_factory=lambda: {"type": "object"})

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def filename(self) -> str:
        return f"{GROUP}_{self.plural}.yaml"


_CONDITION_COLUMNS: tuple[Schema, ...] = (
    {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
    {"name": "Reason", "type": "string", "jsonPath": f"{_READY}.reason"},
)
_AGE: Schema = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

KINDS: tuple[CrdKind, ...] = (
    CrdKind(
        kind=platform.KIND,
        plural=platform.PLURAL,
        scope="Cluster",
        short_names=("dp",),
        spec=platform.DeliveryPlatformSpec,
        status=platform.DeliveryPlatformStatus,
        root=platform.DeliveryPlatform,
        columns=(
            {"name": "Profile", "type": "string", "jsonPath": ".spec.profile"},
            {"name": "Services", "type": "string", "jsonPath": ".status.servicesReady"},
            {"name": "Backing", "type": "string", "jsonPath": ".status.backing"},
            *_CONDITION_COLUMNS,
            _AGE,
        ),
    ),
    CrdKind(
        kind=service.KIND,
        plural=service.PLURAL,
        scope="Namespaced",
        short_names=("dsvc",),
        spec=service.DroneServiceSpec,
        status=service.DroneServiceStatus,
        root=service.DroneService,
        columns=(
            {"name": "Component", "type": "string", "jsonPath": ".spec.component"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".status.readyReplicas"},
            *_CONDITION_COLUMNS,
            _AGE,
        ),
        # Child names (`<name>-config`, `<name>-keyvault`) and label values must fit in 63 characters.
        metadata={
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": service.MAX_NAME_LENGTH}},
        },
    ),
)


def custom_resource_definition(kind: CrdKind) -> Schema:
    """The CRD object for one kind."""
    root: Schema = {
        "description": (kind.root.__doc__ or "").strip(),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "Versioned schema of this representation of an object.",
                "type": "string",
            },
            "kind": {"description": "REST resource this object represents.", "type": "string"},
            "metadata": kind.metadata,
            "spec": model_schema(kind.spec),
            "status": model_schema(kind.status),
        },
        "required": ["spec"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.name,
            "labels": {"app.kubernetes.io/part-of": "fabrikam-drone-delivery"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": ["fabrikam"],
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.columns),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Never emits anchors and aliases: repeated sub-schemas stay readable and diffable."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_yaml(crd: Schema) -> str:
    """The committed form of a CRD: stable key order, wide lines, so diffs stay small."""
    return "---\n" + yaml.dump(crd, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def generated_files() -> dict[str, str]:
    """File name -> YAML text, for `crds/` and the chart's `crds/`."""
    return {kind.filename: render_yaml(custom_resource_definition(kind)) for kind in KINDS}

"""Shared building blocks of the API models: camelCase wire names, metadata, conditions, quantities.

The pydantic models are the source of truth for both the operator's own parsing and the CRD schemas; every
constraint written here ends up in the apiserver's validation too (see `crd.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

GROUP = "dronedelivery.fabrikam.io"
# The operator's name wherever it signs its work: field manager, managed-by label and tag, Event source, Lease.
OPERATOR_NAME = "fabrikam-operator"
VERSION = "v1alpha1"
API_VERSION: Final = "dronedelivery.fabrikam.io/v1alpha1"

# Kubernetes' own quantity grammar, without the sign: a negative request or limit is never meaningful.
QUANTITY_PATTERN = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CIDR_PATTERN = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$"

_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
LABEL_KEY_PATTERN = rf"^([a-z0-9.-]+/)?{_LABEL_NAME}$"

Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=32)]
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]
Hostname = Annotated[str, StringConstraints(pattern=HOSTNAME_PATTERN, max_length=253)]
Guid = Annotated[str, StringConstraints(pattern=GUID_PATTERN, max_length=36)]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=316)]
LabelValue = Annotated[str, StringConstraints(pattern=rf"^({_LABEL_NAME})?$", max_length=63)]
KeyVaultObjectName = Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z-]+$", max_length=127)]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$", max_length=512)]

_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}
_QUANTITY_SPLIT = re.compile(r"^([0-9.]+)([eE][+-]?[0-9.]+|[KMGTPE]i|[numkMGTPE])?$")


def parse_quantity(value: str) -> Decimal:
    """Value of a Kubernetes quantity, so Python can apply the same `limits >= requests` rule as the CEL."""
    match = _QUANTITY_SPLIT.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = match.group(1), match.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return Decimal(number + suffix)
    return Decimal(number) * _SUFFIXES[suffix]


_CONFIG = ConfigDict(
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
    extra="forbid",
)


class Model(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = _CONFIG


def rules(*entries: JsonDict) -> ConfigDict:
    """Model config carrying CEL rules that span several fields (pydantic merges it with the parent's)."""
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": list(entries)})


def defaulted(model: type[BaseModel], description: str | None = None) -> Any:
    """A sub-object that is always present. The CRD default is spelled out in full (not `{}`): the apiserver
    checks CEL rules against the default itself, before nested defaults would fill it."""
    default = model().model_dump(mode="json", by_alias=True, exclude_none=True)
    return Field(default_factory=model, description=description, json_schema_extra={"default": default})


def cel(rule: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> JsonDict:
    """One `x-kubernetes-validations` entry; the message always names the offending field."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


class OwnerReference(BaseModel):
    """Who owns an object: a platform's own DroneServices are owned by it (only the operator creates them)."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True, extra="ignore")

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False


class ObjectMeta(BaseModel):
    """The part of Kubernetes metadata the operator reads; the rest is kept but not interpreted."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="ignore"
    )

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    # kstatus's abnormal-true conditions, read by Flux (docs/gitops.md).
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


class Condition(Model):
    """A Kubernetes API convention condition; `Ready` is what `kubectl wait --for=condition=Ready` reads."""

    type: Annotated[str, StringConstraints(max_length=316)] = Field(
        description="Ready, Progressing, Degraded, Reconciling or Stalled."
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)] = (
        Field(description="CamelCase machine-readable reason for the last transition.")
    )
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        "", description="Human-readable details, naming the field or object to fix."
    )
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation of the spec this condition was computed from."
    )
    last_transition_time: datetime = Field(description="When status last changed.")


@dataclass(frozen=True)
class Problem:
    """What a Degraded condition, and the Event beside it, says went wrong: `reason` CamelCase for machines, `message`
    naming what to fix for people. Every layer reports its problems so (a spec check, a refusal of the API server, a
    failure in Azure), and the status is built from them."""

    reason: str
    message: str


class Conditions(Model):
    """Mixin for statuses: conditions keyed by type, plus the generation they describe."""

    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        description="Ready, Progressing and Degraded, following the Kubernetes API conventions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation of the spec the operator last acted on."
    )


class ImageRef(Model):
    """A container image pinned by digest, so what runs is exactly what was scanned and reviewed."""

    repository: Annotated[
        str,
        StringConstraints(
            pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*((:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+)?$", max_length=255
        ),
    ] = Field(description="Image repository without tag, e.g. fabrikam.azurecr.io/fabrikam/drone-delivery.")
    digest: Annotated[str, StringConstraints(pattern=r"^sha256:[a-f0-9]{64}$", max_length=71)] = Field(
        description="Content digest (sha256:<64 hex>); tags are not accepted because they move."
    )

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


class ResourceList(Model):
    """CPU and memory amounts, as Kubernetes quantities."""

    cpu: Quantity = Field(description="CPU, e.g. 250m or 1.")
    memory: Quantity = Field(description="Memory, e.g. 256Mi.")


class Resources(Model):
    """Requests and limits are both mandatory: a container without limits can starve its node."""

    model_config = rules(
        *(
            cel(
                f"quantity(self.limits.{r}).compareTo(quantity(self.requests.{r})) >= 0",
                f"resources.limits.{r} must be greater than or equal to resources.requests.{r}",
                field_path=f".limits.{r}",
                reason="FieldValueInvalid",
            )
            for r in ("cpu", "memory")
        )
    )

    requests: ResourceList = Field(description="What the scheduler reserves for each container.")
    limits: ResourceList = Field(description="The ceiling each container is throttled or OOM-killed at.")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        for resource in ("cpu", "memory"):
            if parse_quantity(getattr(self.limits, resource)) < parse_quantity(getattr(self.requests, resource)):
                raise ValueError(
                    f"resources.limits.{resource} must be greater than or equal to resources.requests.{resource}"
                )
        return self


class Autoscaling(Model):
    """Horizontal autoscaling bounds; every service gets an HPA, a fixed count is min == max."""

    model_config = rules(
        cel(
            "self.minReplicas <= self.maxReplicas",
            "autoscaling.maxReplicas must be greater than or equal to autoscaling.minReplicas",
            field_path=".maxReplicas",
            reason="FieldValueInvalid",
        )
    )

    min_replicas: int = Field(2, ge=2, le=100, description="At least 2, so one pod can fail or be evicted.")
    max_replicas: int = Field(10, ge=2, le=500, description="Upper bound for the HPA.")
    target_cpu_utilization_percentage: int = Field(
        70, ge=10, le=95, description="Average CPU utilization (of requests) the HPA aims for."
    )
    scale_down_stabilization_seconds: int | None = Field(
        None,
        ge=0,
        le=3600,
        description="How long the HPA waits, after load falls, before removing pods; default Kubernetes' 300 s.",
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.maxReplicas must be greater than or equal to autoscaling.minReplicas")
        return self


class Placement(Model):
    """Where pods may run."""

    interruptible: bool = Field(
        False,
        description="Tolerates eviction: prefer the spot node pool. Other services never land on spot nodes.",
    )


class ConfigEntry(Model):
    """One non-secret environment variable, delivered through the service's ConfigMap."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)] = Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!self.startsWith('FABRIKAM_') && !self.startsWith('OTEL_')",
                    "config[].name: the FABRIKAM_ and OTEL_ prefixes are reserved for values the operator sets",
                    reason="FieldValueForbidden",
                )
            ]
        },
        description="Environment variable name; FABRIKAM_* and OTEL_* are reserved for the operator.",
    )
    value: Annotated[str, StringConstraints(max_length=4096)] = Field(
        "", description="Plain value. Secrets never go here: use secrets[] (Key Vault)."
    )

    @model_validator(mode="after")
    def _not_reserved(self) -> ConfigEntry:
        if self.name.startswith(("FABRIKAM_", "OTEL_")):
            raise ValueError(
                "config[].name: the FABRIKAM_ and OTEL_ prefixes are reserved for values the operator sets"
            )
        return self


def config_field(description: str) -> Any:
    """The `config` list, unique by name so a variable is never set twice."""
    return Field(
        default_factory=list,
        max_length=64,
        description=description,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


def unique(items: list[Any], key: str, field: str) -> None:
    """Python twin of `x-kubernetes-list-type: map`: duplicate keys are an error naming the list."""
    seen: set[Any] = set()
    for item in items:
        value = getattr(item, key)
        if value in seen:
            raise ValueError(f"{field}: duplicate {to_camel(key)} {value!r}")
        seen.add(value)

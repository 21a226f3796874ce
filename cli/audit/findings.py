"""What the audit reports: one problem of the seed's list, seen on one object, with the field that remedies it.

Values only, no I/O: the checks produce them, the reports print them, `fabrikam adopt` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How urgently a problem needs fixing; ordered, so `--fail-on high` also fails on critical."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, threshold: Severity) -> bool:
        return self.rank >= threshold.rank


_RANKS = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object a finding is about. `namespace` is None for cluster-scoped objects."""

    kind: str
    namespace: str | None
    name: str
    api_version: str

    @property
    def display(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True)
class Location:
    """Where a manifest document starts: the path as given (or the chart template `helm template` names), 1-based."""

    path: str
    line: int | None = None


@dataclass(frozen=True)
class Finding:
    """One rule that fired on one object.

    `problem` is the seed's own sentence, so a reader recognises the platform they run; `detail` says what exactly
    was seen on this object; `fix` names the DroneService field or DeliveryPlatform setting that makes it impossible.
    """

    rule: str
    severity: Severity
    object: ObjectRef
    problem: str
    detail: str
    fix: str
    ignored: str | None = None
    """Why the object's owner accepts it (its `ignore` annotation, `ignore.py`); None: a finding to fix."""

    def to_dict(self) -> dict[str, Any]:
        found = {
            "rule": self.rule,
            "severity": self.severity.value,
            "object": self.object.to_dict(),
            "problem": self.problem,
            "detail": self.detail,
            "fix": self.fix,
        }
        return found | ({"ignored": self.ignored} if self.ignored is not None else {})

"""Findings an object's owner has accepted, by annotation, as kube-score's `kube-score/ignore` and Polaris'
exemptions do: a pod that runs no server has nothing to probe, one idle pod nothing to scale.

    metadata:
      annotations:
        audit.dronedelivery.fabrikam.io/ignore: no-hpa,no-pdb
        audit.dronedelivery.fabrikam.io/ignore-reason: one idle pod holding a CSI mount

An ignored finding is still reported, with its reason (JSON `ignored`, SARIF `suppressions`), but leaves the table's
findings and never fails `--fail-on`. The annotation goes on the object the finding names (a workload, a Namespace).
A rule id the audit does not know is a warning: a typo would otherwise silence nothing without saying so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from fabrikam.cli.audit.findings import Finding, ObjectRef
from fabrikam.cli.audit.objects import Obj, ref, value_at
from fabrikam.cli.audit.rules import BY_ID

IGNORE = "audit.dronedelivery.fabrikam.io/ignore"
IGNORE_REASON = "audit.dronedelivery.fabrikam.io/ignore-reason"
_NO_REASON = "accepted by the object's ignore annotation, no reason given"


def _rules(obj: Obj) -> list[str]:
    value = value_at(obj, "metadata", "annotations", IGNORE)
    return [rule.strip() for rule in str(value or "").split(",") if rule.strip()]


def accepted(objects: Iterable[Obj]) -> dict[ObjectRef, tuple[frozenset[str], str]]:
    """Per annotated object, the rules it ignores and why."""
    found: dict[ObjectRef, tuple[frozenset[str], str]] = {}
    for obj in objects:
        if rules := _rules(obj):
            reason = str(value_at(obj, "metadata", "annotations", IGNORE_REASON) or _NO_REASON)
            found[ref(obj)] = (frozenset(rules), reason)
    return found


def unknown_rules(objects: Iterable[Obj]) -> list[str]:
    """A warning per annotation naming a rule the audit does not have."""
    return [
        f"{ref(obj).display}: {IGNORE} names {rule!r}, which is no rule of the audit (`fabrikam audit` lists them)"
        for obj in objects
        for rule in _rules(obj)
        if rule not in BY_ID
    ]


def mark(findings: Sequence[Finding], objects: Iterable[Obj]) -> list[Finding]:
    """The findings, those an annotation accepts marked with its reason."""
    by_object = accepted(objects)
    marked: list[Finding] = []
    for finding in findings:
        rules, reason = by_object.get(finding.object, (frozenset(), ""))
        marked.append(dataclasses.replace(finding, ignored=reason) if finding.rule in rules else finding)
    return marked

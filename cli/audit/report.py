"""The audit's three outputs: a table for people (grouped per object), JSON for scripts, SARIF 2.1.0 for GitHub
code scanning. Pure: findings and where their objects were read in, text or documents out."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import groupby
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Group
from rich.table import Table
from rich.text import Text

from fabrikam.cli.audit.findings import Finding, Location, ObjectRef, Severity
from fabrikam.cli.audit.rules import RULES, Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "fabrikam-audit"
_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}
# GitHub ranks code scanning alerts by `security-severity`: above 9 critical, 7 to 8.9 high, 4 to 6.9 medium.
_SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}
_SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}


def to_fix(findings: Sequence[Finding]) -> list[Finding]:
    """The findings no annotation accepts: what the table shows and `--fail-on` counts."""
    return [f for f in findings if f.ignored is None]


def counts(findings: Sequence[Finding]) -> dict[str, int]:
    """Findings per severity, most severe first, every severity present."""
    tally = Counter(f.severity for f in findings)
    return {s.value: tally[s] for s in sorted(Severity, key=lambda s: -s.rank)}


def summary(findings: Sequence[Finding], objects: int) -> str:
    shown = to_fix(findings)
    affected = len({f.object for f in shown})
    parts = ", ".join(f"{n} {severity}" for severity, n in counts(shown).items() if n)
    ignored = len(findings) - len(shown)
    return (
        f"{len(shown)} findings on {affected} of {objects} objects"
        + (f": {parts}" if parts else "")
        + (f" ({ignored} more accepted by their objects' ignore annotations: -o json lists them)" if ignored else "")
    )


def table(findings: Sequence[Finding], objects: int) -> Group:
    """What was seen, one row per object with a line per finding; then each rule that fired once, with the seed's
    words for it and the fix, so a long report stays readable (and renders fast: one cell per object). Findings an
    annotation accepts are only counted in the summary."""
    everything, findings = findings, to_fix(findings)
    seen = Table(expand=True, title="fabrikam audit: the seed's problems on this platform", show_lines=True)
    seen.add_column("Object", style="bold", ratio=1, overflow="fold")
    seen.add_column("Severity, rule: what was seen", ratio=4)
    width = max((len(f.rule) for f in findings), default=0)
    for obj, group in groupby(findings, key=lambda f: f.object):
        lines = Text()
        for position, finding in enumerate(group):
            if position:
                lines.append("\n")
            lines.append(f"{finding.severity.value:<8}", style=_STYLES[finding.severity])
            lines.append(f" {finding.rule:<{width}}  ", style="bold")
            lines.append(finding.detail)
        seen.add_row(obj.display, lines)
    fixes = Table(expand=True, title="The fixes")
    fixes.add_column("Rule", no_wrap=True)
    fixes.add_column("Objects", justify="right")
    fixes.add_column("Seed problem", ratio=2)
    fixes.add_column("Fix", ratio=4, style="green")
    fired = Counter(f.rule for f in findings)
    for rule in sorted((r for r in RULES if r.id in fired), key=lambda r: (-r.severity.rank, r.id)):
        fixes.add_row(rule.id, str(fired[rule.id]), rule.seed, rule.fix)
    return Group(seen, fixes, Text(summary(everything, objects), style="bold"))


def _location(obj: ObjectRef, locations: Mapping[ObjectRef, Location]) -> dict[str, Any] | None:
    where = locations.get(obj)
    return {"path": where.path, "line": where.line} if where else None


def to_json(findings: Sequence[Finding], locations: Mapping[ObjectRef, Location], objects: int) -> str:
    shown = to_fix(findings)
    document = {
        "summary": {
            "objects": objects,
            "findings": len(shown),
            "bySeverity": counts(shown),
            "ignored": len(findings) - len(shown),
        },
        "findings": [f.to_dict() | {"location": _location(f.object, locations)} for f in shown],
        "ignored": [f.to_dict() | {"location": _location(f.object, locations)} for f in findings if f.ignored],
    }
    return json.dumps(document, indent=2)


def _rule_name(rule: Rule) -> str:
    return "".join(part.title() for part in rule.id.split("-"))


def _descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": _rule_name(rule),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": f"Seed problem: {rule.seed}"},
        "help": {
            "text": f"Fix: {rule.fix}",
            "markdown": f"**Seed problem:** {rule.seed}\n\n**Fix:** {rule.fix}",
        },
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "severity": rule.severity.value,
            "tags": ["security", "kubernetes"],
            "precision": "high",
        },
    }


@cache
def _uri(path: str) -> str:
    """A path relative to the working directory (the repository root in CI), as code scanning expects."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(Path.cwd())
        except ValueError:
            return candidate.as_uri()
    return quote(candidate.as_posix())


def _sarif_location(obj: ObjectRef, where: Location | None) -> dict[str, Any]:
    qualified = "/".join(part for part in (obj.namespace, obj.kind, obj.name) if part)
    location: dict[str, Any] = {
        "logicalLocations": [{"name": obj.name, "fullyQualifiedName": qualified, "kind": "resource"}]
    }
    if where is not None:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": _uri(where.path)},
            "region": {"startLine": where.line or 1},
        }
    return location


def _fingerprint(finding: Finding) -> str:
    """Stable across runs and line moves: the rule and the object, not where the object sits in its file."""
    obj = finding.object
    key = "\0".join((finding.rule, obj.kind, obj.namespace or "", obj.name))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def to_sarif(
    findings: Sequence[Finding], locations: Mapping[ObjectRef, Location], *, version: str = "0.0.0"
) -> dict[str, Any]:
    """A SARIF 2.1.0 log: every rule described (seed problem, fix, GitHub's security-severity), every finding a
    result at its manifest's file and line, or at its object's logical name for a live cluster."""
    index = {rule.id: position for position, rule in enumerate(RULES)}
    results = [
        {
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": _SARIF_LEVEL[finding.severity],
            "message": {"text": f"{finding.object.display}: {finding.detail}. Fix: {finding.fix}"},
            "locations": [_sarif_location(finding.object, locations.get(finding.object))],
            "partialFingerprints": {"fabrikamAuditObject/v1": _fingerprint(finding)},
            "properties": {"severity": finding.severity.value, "object": finding.object.to_dict()},
        }
        # Code scanning shows a suppressed result as dismissed, with the justification.
        | ({"suppressions": [{"kind": "inSource", "justification": finding.ignored}]} if finding.ignored else {})
        for finding in findings
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "semanticVersion": version,
                        "rules": [_descriptor(rule) for rule in RULES],
                    }
                },
                "results": results,
            }
        ],
    }

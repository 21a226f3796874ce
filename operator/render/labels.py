"""Labels, selectors, owner references and object metadata shared by every rendered object.

Every child carries the same label set so the handlers can watch children by selector and cost reports can
group by team and cost center.
"""

from __future__ import annotations

from typing import Any

from fabrikam.operator.api import GROUP, OPERATOR_NAME, Team

MANAGED_BY = OPERATOR_NAME
PART_OF = "fabrikam-drone-delivery"
NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
TEAM = f"{GROUP}/team"
COST_CENTER = f"{GROUP}/cost-center"
PLATFORM = f"{GROUP}/platform"
CONFIG_HASH = f"{GROUP}/config-hash"
# Replica count a new Deployment starts with, set once under a separate field manager so the HPA owns it after.
INITIAL_REPLICAS = f"{GROUP}/initial-replicas"
# On an autoscaler whose minimum the platform's off-hours lowered: why only that many pods run.
OFF_HOURS = f"{GROUP}/off-hours"
NAMESPACE_NAME = "kubernetes.io/metadata.name"

Obj = dict[str, Any]


def common(*, name: str, component: str, team: Team, platform: str) -> dict[str, str]:
    """The label set of one object; `instance` is the platform, so two environments never mix."""
    return {
        NAME: name,
        INSTANCE: platform,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        COMPONENT: component,
        TEAM: team.name,
        COST_CENTER: team.cost_center,
        PLATFORM: platform,
    }


def selector(name: str) -> dict[str, str]:
    """Pod selector of a service; only labels that never change, since Deployment selectors are immutable."""
    return {NAME: name, "app.kubernetes.io/managed-by": MANAGED_BY}


def owner_reference(*, api_version: str, kind: str, name: str, uid: str | None) -> list[Obj]:
    """Owner reference so deletion cascades; none when rendering offline (no uid yet)."""
    if uid is None:
        return []
    return [
        {
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def metadata(
    name: str,
    *,
    labels: dict[str, str],
    namespace: str | None = None,
    owners: list[Obj] | None = None,
    annotations: dict[str, str] | None = None,
) -> Obj:
    """An object's metadata, with only the keys that have values so applied objects stay minimal."""
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if owners:
        meta["ownerReferences"] = owners
    return meta

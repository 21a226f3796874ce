"""Process-wide state the handlers share: the API connection and what the last reconciles decided."""

from dataclasses import dataclass, field
from typing import Any

from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.handlers.settings import OperatorSettings

OwnerKey = tuple[str, str, str]  # (kind, namespace, name); namespace "" for the cluster-scoped platform
ChildKey = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name)


def child_key(obj: dict[str, Any]) -> ChildKey:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])


@dataclass
class Outcome:
    """What the last reconcile of an owner concluded; the status writers combine it with live children."""

    generation: int
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (reason, message) of problems found
    blocking: bool = False  # nothing could be applied (fatal problem or a refused object)
    endpoint: str | None = None
    waiting: str | None = None  # Azure resources still provisioning: not Ready yet, but nothing is wrong
    azure: list[dict[str, Any]] | None = None  # status.azureResources of a platform
    identity_client_id: str | None = None  # a service's managed identity


@dataclass
class Runtime:
    settings: OperatorSettings
    api: KubeApi | None = None
    desired: dict[OwnerKey, dict[ChildKey, dict[str, Any]]] = field(default_factory=dict)
    outcomes: dict[OwnerKey, Outcome] = field(default_factory=dict)

    def kube(self) -> KubeApi:
        if self.api is None:
            raise RuntimeError("the operator's API connection is not open yet (startup handler not run)")
        return self.api

    def remember(self, owner: OwnerKey, objects: list[dict[str, Any]], outcome: Outcome) -> None:
        self.desired[owner] = {child_key(obj): obj for obj in objects}
        self.outcomes[owner] = outcome

    def forget(self, owner: OwnerKey) -> None:
        self.desired.pop(owner, None)
        self.outcomes.pop(owner, None)


RUNTIME = Runtime(settings=OperatorSettings())

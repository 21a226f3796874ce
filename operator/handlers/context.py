"""What a reconcile works with, handed down from the kopf handler that started it instead of read from globals.

A kopf entry point (a handler, timer or daemon) takes the process's `Runtime` once and builds a `Context` with the
indexes and logger kopf gave it; every step below reads settings, the API connection, Azure clients and what earlier
passes remembered from there, so a step shows in its signature what it depends on.
"""

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import kopf

from fabrikam.operator.apply.applier import ApplyResult, apply_objects
from fabrikam.operator.handlers.indexes import Indexes
from fabrikam.operator.handlers.runtime import Lookup, OwnerKey, Runtime


@dataclass(frozen=True)
class Context:
    """The process's runtime (settings, API connection, Azure clients, memory of earlier passes), kopf's indexes of
    the operator's own objects, and the logger of the handler at work."""

    runtime: Runtime
    indexes: Indexes
    logger: kopf.Logger


@dataclass(frozen=True)
class OwnerPass(Context):
    """One reconcile of one owner (a DroneService or a DeliveryPlatform): the object as this pass started from, and
    how far it goes (`azure`: the Azure side too, which the Kubernetes-only resyncs leave to their own timer;
    `lookup`: how it learns the state of the children). Each kind names itself in `KIND`."""

    KIND: ClassVar[str]

    body: dict[str, Any]
    azure: bool
    lookup: Lookup

    @classmethod
    def of(cls, context: Context, body: dict[str, Any], *, azure: bool, lookup: Lookup) -> Self:
        return cls(context.runtime, context.indexes, context.logger, body, azure, lookup)

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        """ "" for the cluster-scoped platform."""
        return str(self.body["metadata"].get("namespace") or "")

    @property
    def owner(self) -> OwnerKey:
        return (self.KIND, self.namespace, self.name)

    @property
    def generation(self) -> int:
        return int(self.body["metadata"].get("generation", 0))

    async def apply(self, objects: list[dict[str, Any]]) -> ApplyResult:
        """Sends what changed of the owner's children, learning their state as `lookup` says."""
        options = self.lookup.apply_options(
            concurrency=self.runtime.settings.apply_concurrency, known_hashes=self.runtime.live_hashes
        )
        return await apply_objects(self.runtime.kube(), objects, **options)

"""The dependency graph between DroneServices: who calls whom, across namespaces."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fabrikam.operator.api import Call, DroneService


@dataclass(frozen=True, order=True)
class ServiceRef:
    """A DroneService by namespace and name."""

    namespace: str
    name: str

    @classmethod
    def of(cls, svc: DroneService) -> ServiceRef:
        return cls(svc.namespace, svc.name)


def callee(svc: DroneService, call: Call) -> ServiceRef:
    """The service a call points at; an omitted namespace means the caller's own."""
    return ServiceRef(call.namespace or svc.namespace, call.name)


def callees(svc: DroneService) -> list[ServiceRef]:
    return sorted({callee(svc, call) for call in svc.spec.calls})


def callers_of(target: DroneService, peers: Iterable[DroneService]) -> list[ServiceRef]:
    """Services of the same platform that declare a call to `target`, sorted for stable output."""
    me = ServiceRef.of(target)
    return sorted(
        {
            ServiceRef.of(peer)
            for peer in peers
            if peer.spec.platform_ref.name == target.spec.platform_ref.name and me in callees(peer)
        }
    )

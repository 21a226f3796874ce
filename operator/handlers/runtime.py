"""What the operator process holds for all its reconciles: its settings, its API connection and Azure clients, and
what the last reconciles decided. One instance, `RUNTIME`, read by the kopf handlers at their entry and handed down
from there (`context.Context`): nothing below them reaches for it."""

import asyncio
import json
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.apply.comparison import HASH_ANNOTATION
from fabrikam.operator.apply.resources import ChildKey
from fabrikam.operator.handlers.cloud import AzureClientPool
from fabrikam.operator.handlers.discovery import Discovery
from fabrikam.operator.handlers.parsing import ParsedModels
from fabrikam.operator.handlers.report import LastReconcile as LastReconcile
from fabrikam.operator.handlers.settings import OperatorSettings
from fabrikam.operator.metrics import HEALTH, MANAGED_OBJECTS

OwnerKey = tuple[str, str, str]  # (kind, namespace, name); namespace "" for the cluster-scoped platform


def deployment_key(service: OwnerKey) -> ChildKey:
    """The Deployment whose rollout a DroneService's status follows: its namesake in its namespace."""
    _, namespace, name = service
    return ChildKey("apps/v1", "Deployment", namespace, name)


class Lookup(Enum):
    """How a reconcile learns the current state of the children before deciding what to send."""

    NEW = "new"  # the owner was just created: its children cannot exist yet, no GET
    FULL = "full"  # operator start: GET every child and compare in full (drift while we were away)
    CACHED = "cached"  # otherwise: hashes seen on the watch streams, a GET only for unknown children

    @classmethod
    def of(cls, reason: str) -> "Lookup":
        return {"create": cls.NEW, "resume": cls.FULL}.get(reason, cls.CACHED)

    def apply_options(self, *, concurrency: int, known_hashes: Mapping[ChildKey, str]) -> dict[str, Any]:
        """`apply_objects`' keyword arguments for this lookup; `known_hashes` (what the watches showed) serve only
        the cached one."""
        options: dict[str, Any] = {"concurrency": concurrency}
        if self is Lookup.NEW:
            options["assume_new"] = True
        elif self is Lookup.CACHED:
            options["known_hashes"] = known_hashes
        return options


@dataclass
class OffHoursWatch:
    """One platform's off-hours daemon: the window it last read, and how to wake it when the spec changes that."""

    window: Any = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Runtime:
    settings: OperatorSettings
    api: KubeApi | None = None  # replaced on a re-login: taken with kube() where a call is made, not kept
    # The Azure clients of each subscription reached, for the process lifetime (closed at shutdown).
    azure: AzureClientPool = field(init=False)
    # Which optional kinds (the Prometheus Operator's) the API server serves, read again now and then.
    discovery: Discovery = field(init=False)
    # What the last reconcile of each owner applied, per child, as compressed JSON: the drift watcher needs it on
    # every child event, but as dicts it cost ~26 KB per service (26 MB at 1000 services); compressed it is ~3 KB.
    desired: dict[OwnerKey, dict[ChildKey, bytes]] = field(default_factory=dict)
    outcomes: dict[OwnerKey, LastReconcile] = field(default_factory=dict)
    # The reconcile-policy annotation each owner's last reconcile followed: a change of it alone (an annotation of
    # our group, which kopf leaves out of the diff it triggers handlers on) is acted on when an event shows it.
    policies: dict[OwnerKey, str] = field(default_factory=dict)
    # When each owner's children were last read in full (monotonic seconds), see resync_lookup.
    full_reads: dict[OwnerKey, float] = field(default_factory=dict)
    # From the watch streams of the children: their desired-hash annotation, and Deployments' rollout state.
    live_hashes: dict[ChildKey, str] = field(default_factory=dict)
    deployments: dict[ChildKey, dict[str, Any]] = field(default_factory=dict)
    # One reconcile of an owner at a time: kopf serialises its own handlers per object, but the resync loops and the
    # re-checks of neighbours call the same reconcile. Two at once each carried the Azure verdict they had read
    # at their start; the later write put back a stale one (seen: a lasting Azure error flickering off, issue #14).
    locks: dict[OwnerKey, asyncio.Lock] = field(default_factory=dict)
    # The bodies of the operator's own objects parsed into API models, memoised per object.
    models: ParsedModels = field(default_factory=ParsedModels)
    # Per platform: when its resync last re-checked the services' Azure side (monotonic seconds), and the
    # environment its services were last rendered with (a change of it re-renders them at once).
    azure_rechecks: dict[str, float] = field(default_factory=dict)
    service_environments: dict[str, dict[str, str]] = field(default_factory=dict)
    # Services' status refreshes waiting out their coalescing delay (rollout.follow): one per service at a time.
    status_refreshes: dict[OwnerKey, asyncio.Task[None]] = field(default_factory=dict)
    # Per platform: its Redis ACL synced one at a time; (platform, uid) whose admin Secret exists.
    acl_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    acl_admins: set[tuple[str, str | None]] = field(default_factory=set)
    # (which Secret, namespace, name, uid) of the services' development Secrets created or found.
    dev_secrets: set[tuple[str, str, str, str | None]] = field(default_factory=set)
    # Each platform's off-hours daemon, to wake it when the window changes.
    off_hours: dict[str, OffHoursWatch] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.azure = AzureClientPool(self.settings)
        self.discovery = Discovery(self.settings.discovery_seconds)

    def kube(self) -> KubeApi:
        if self.api is None:
            raise RuntimeError("the operator's API connection is not open yet (startup handler not run)")
        return self.api

    def remember(self, owner: OwnerKey, objects: list[dict[str, Any]], outcome: LastReconcile) -> None:
        self._count(self.desired.get(owner, {}), -1)
        self.desired[owner] = {
            ChildKey.of(obj): zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 1) for obj in objects
        }
        self._count(self.desired[owner], +1)
        self.outcomes[owner] = outcome

    def remember_child(self, owner: OwnerKey, obj: dict[str, Any]) -> None:
        """Adds or replaces one child of an owner applied outside its own reconcile (the Redis ACL file)."""
        children = self.desired.setdefault(owner, {})
        self._count(children, -1)
        children[ChildKey.of(obj)] = zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 1)
        self._count(children, +1)

    def desired_child(self, owner: OwnerKey, key: ChildKey) -> dict[str, Any] | None:
        """The child as the owner's last reconcile applied it; a fresh copy, so callers may change it."""
        packed = self.desired.get(owner, {}).get(key)
        return None if packed is None else dict(json.loads(zlib.decompress(packed)))

    @staticmethod
    def _count(children: dict[ChildKey, bytes], sign: int) -> None:
        for key in children:
            MANAGED_OBJECTS.labels(key.kind).inc(sign)

    def settled(self, owner: OwnerKey, body: Any) -> bool:
        """Whether a change handler has reconciled the owner's current generation (timers wait for that)."""
        outcome = self.outcomes.get(owner)
        return outcome is not None and outcome.generation == body["metadata"].get("generation")

    def observe(self, key: ChildKey, obj: dict[str, Any] | None) -> None:
        """Records what a watch event showed of a child (None: it was deleted); small summaries only."""
        if obj is None:
            self.live_hashes.pop(key, None)
            self.deployments.pop(key, None)
            return
        applied_hash = obj["metadata"].get("annotations", {}).get(HASH_ANNOTATION)
        if applied_hash:
            self.live_hashes[key] = applied_hash
        if obj["kind"] == "Deployment":
            self.deployments[key] = {
                "metadata": {"generation": obj["metadata"].get("generation", 0)},
                "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
                "status": dict(obj.get("status") or {}),
            }

    def resync_lookup(self, owner: OwnerKey) -> Lookup:
        """How an idle re-check learns the children: from the watches' hashes, except once per
        `full_resync_seconds`, when it reads every child (what a watch missed while it was down)."""
        now = time.monotonic()
        last = self.full_reads.setdefault(owner, now)
        if now - last < self.settings.full_resync_seconds:
            return Lookup.CACHED
        self.full_reads[owner] = now
        return Lookup.FULL

    def lock(self, owner: OwnerKey) -> asyncio.Lock:
        return self.locks.setdefault(owner, asyncio.Lock())

    def forget(self, owner: OwnerKey) -> None:
        self._count(self.desired.pop(owner, {}), -1)
        HEALTH.forget(*owner)
        self.outcomes.pop(owner, None)
        self.policies.pop(owner, None)
        self.full_reads.pop(owner, None)
        self.locks.pop(owner, None)

    def forget_platform(self, name: str, uid: str) -> None:
        """Drops what was kept of a deleted platform beyond its reconciles."""
        self.forget(("DeliveryPlatform", "", name))
        self.models.forget(uid)
        self.service_environments.pop(name, None)
        self.azure_rechecks.pop(name, None)
        self.acl_locks.pop(name, None)
        self.acl_admins -= {created for created in self.acl_admins if created[0] == name}


RUNTIME = Runtime(settings=OperatorSettings())

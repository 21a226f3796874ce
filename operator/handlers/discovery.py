"""Which of the optional kinds the API server serves: the Prometheus Operator's, whose CRDs a cluster may lack.

Read from the API server's discovery when first needed, then again once older than `discovery_seconds` or after an
apply found a kind gone, so a CRD installed or removed while the operator runs is followed within that period (the
next re-check of each object then renders with it). kopf follows the same CRDs for the watches of these kinds, and
`outlive_removed_crds` keeps a watch that finds its kind removed from stopping the operator.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import kopf
from kopf._cogs.aiokits.aiotasks import Future
from kopf._cogs.clients import errors, watching
from kopf._cogs.structs.references import Namespace

from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.apply.resources import OPTIONAL
from fabrikam.operator.render import MonitoringApis


@dataclass
class Discovery:
    seconds: float
    _served: frozenset[tuple[str, str]] | None = None
    _read_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def served(self, api: KubeApi) -> frozenset[tuple[str, str]]:
        """(apiVersion, kind) of the optional kinds the API server serves."""
        async with self._lock:
            if self._served is None or time.monotonic() - self._read_at >= self.seconds:
                versions = sorted({r.api_version for r in OPTIONAL})
                found = await asyncio.gather(*(api.served_kinds(version) for version in versions))
                served = {(version, kind) for version, kinds in zip(versions, found, strict=True) for kind in kinds}
                self._served = frozenset((r.api_version, r.kind) for r in OPTIONAL if (r.api_version, r.kind) in served)
                self._read_at = time.monotonic()
            return self._served

    async def monitoring(self, api: KubeApi) -> MonitoringApis:
        served = {kind for _, kind in await self.served(api)}
        return MonitoringApis(
            prometheus_rule="PrometheusRule" in served,
            pod_monitor="PodMonitor" in served,
            alertmanager_config="AlertmanagerConfig" in served,
        )

    def forget(self) -> None:
        """An apply found an optional kind no longer served (its CRD removed): read again at the next need."""
        self._served = None


OPTIONAL_PATHS = frozenset((r.group, r.plural) for r in OPTIONAL)
logger = logging.getLogger(__name__)


def outlive_removed_crds(discovery: Discovery) -> None:
    """A watch of an optional kind that gets a 404 (its CRD removed) ends and is opened again `discovery.seconds`
    later, instead of stopping the operator.

    kopf (1.45) re-opens a watch at once when the API server closes it (`watching.continuous_watch`), as the API
    server does about a second after a CRD is removed. Unless kopf's own CRD watch stopped that watch first (it re-reads
    discovery on the CRD's events, which may still list the kind then, and not later), the request gets a 404,
    `APINotFoundError`, that nothing catches up to kopf's orchestrator, which re-raises it (`aiotasks.reraise`): the
    operator exits. Here that watch waits instead and lists again: another 404 and wait while the kind stays gone, its
    objects once it is back. kopf has no hook for it, so its `continuous_watch` is wrapped, once per process (a kopf
    without it fails at start-up and in tests/unit/operator_handlers/test_discovery_watches.py)."""
    original = watching.continuous_watch
    if getattr(original, "_outlives_removed_crds", False):
        return
    gone: set[str] = set()

    async def continuous_watch(
        *,
        settings: kopf.OperatorSettings,
        resource: kopf.Resource,
        namespace: Namespace,
        operator_pause_waiter: Future,
    ) -> AsyncIterator[watching.Bookmark | kopf.RawEvent]:
        events = original(
            settings=settings, resource=resource, namespace=namespace, operator_pause_waiter=operator_pause_waiter
        )
        try:
            async for event in events:
                gone.discard(resource.plural)
                yield event
        except errors.APINotFoundError:
            if (resource.group, resource.plural) not in OPTIONAL_PATHS:
                raise
            log = logger.debug if resource.plural in gone else logger.info
            gone.add(resource.plural)
            log("%s no longer served (its CRD was removed): watched again once it is", resource.kind or resource.plural)
            discovery.forget()
            await asyncio.sleep(discovery.seconds)

    continuous_watch._outlives_removed_crds = True  # type: ignore[attr-defined]
    watching.continuous_watch = continuous_watch

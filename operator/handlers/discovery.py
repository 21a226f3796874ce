"""Which of the optional kinds the API server serves: the Prometheus Operator's, whose CRDs a cluster may lack.

Read from the API server's discovery when first needed, then again once older than `discovery_seconds` or after an
apply found a kind gone, so a CRD installed or removed while the operator runs is followed within that period (the
next re-check of each object then renders with it). kopf follows the same CRDs for the watches of these kinds.
"""

import asyncio
import time
from dataclasses import dataclass, field

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

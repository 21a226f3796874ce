"""Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection package does it.

kopf's own peering elects by priority through its own objects, not a Lease, and keeps every replica watching; here
only the holder of the Lease runs kopf at all, so a standby makes no write. Expiry is judged on the local clock from
when this replica last saw the record change (as client-go does), never by comparing another node's renewTime with
ours: clocks of two nodes may differ by more than a lease.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fabrikam.operator.apply.client import ApiError, KubeApi

LEASE_API = "coordination.k8s.io/v1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTiming:
    """How long a holder's lease lasts without renewal, how long the holder keeps trying to renew before it gives up
    leadership, and how often everyone tries. Takeover after a holder dies: at most `duration + retry_period`."""

    duration: float = 8.0
    renew_deadline: float = 6.0
    retry_period: float = 1.0

    def __post_init__(self) -> None:
        if not self.retry_period < self.renew_deadline < self.duration:
            raise ValueError("lease timing needs retry_period < renew_deadline < duration")


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def held_spec(previous: dict[str, Any] | None, identity: str, timing: LeaseTiming, now: datetime) -> dict[str, Any]:
    """The Lease spec when `identity` takes or renews it: a new holder counts a transition and its acquire time."""
    previous = previous or {}
    renewing = previous.get("holderIdentity") == identity
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, round(timing.duration)),
        "acquireTime": previous.get("acquireTime") if renewing else micro_time(now),
        "renewTime": micro_time(now),
        "leaseTransitions": int(previous.get("leaseTransitions") or 0) + (0 if renewing else 1),
    }


def released_spec(previous: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What a holder leaves behind on a clean stop (client-go's ReleaseOnCancel): no holder, so a standby need not
    wait for the lease to expire."""
    return {**previous, "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": micro_time(now)}


def free_for(spec: dict[str, Any] | None, identity: str, *, unchanged_for: float) -> bool:
    """May `identity` take a lease whose record it has seen unchanged for `unchanged_for` seconds?"""
    if spec is None:
        return True
    holder = spec.get("holderIdentity")
    if not holder or holder == identity:
        return True
    return unchanged_for >= float(spec.get("leaseDurationSeconds") or 0)


class LeaseElector:
    """One replica's side of the election for the Lease `namespace/name`."""

    def __init__(self, api: KubeApi, namespace: str, name: str, identity: str, timing: LeaseTiming) -> None:
        self.api, self.identity, self.timing = api, identity, timing
        self.name = name
        self.ref: dict[str, Any] = {
            "apiVersion": LEASE_API,
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
        }
        self._seen: dict[str, Any] | None = None
        self._seen_at = time.monotonic()
        self._renewed_at: float | None = None

    @property
    def leading(self) -> bool:
        return self._renewed_at is not None

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the lease afterwards. Only a replica that may take or renew
        the lease writes; a standby only reads."""
        current = await self.api.get(self.ref)
        now = datetime.now(UTC)
        if current is None:
            body = {**self.ref, "spec": held_spec(None, self.identity, self.timing, now)}
            return self._held(await self.api.create(body))
        spec = current.get("spec") or {}
        if spec != self._seen:
            self._seen, self._seen_at = spec, time.monotonic()
        if not free_for(spec, self.identity, unchanged_for=time.monotonic() - self._seen_at):
            return False
        body = {**current, "spec": held_spec(spec, self.identity, self.timing, now)}
        try:
            await self.api.replace(body)
        except ApiError as error:
            if error.status == 409:  # another replica wrote first (optimistic concurrency on resourceVersion)
                return False
            raise
        return self._held(True)

    def _held(self, held: bool) -> bool:
        if held:
            if self._renewed_at is None:
                log.info("leader election: %s holds lease %s", self.identity, self.name)
            self._renewed_at = time.monotonic()
        return held

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("leader election: could not read or write the lease: %s", error)
            return False

    async def acquire(self) -> None:
        """Waits until this replica holds the lease, trying every retry period (jittered, so two standbys do not
        collide in step)."""
        while True:
            if await self._attempt():
                return
            await asyncio.sleep(self.timing.retry_period * random.uniform(1.0, 1.2))

    async def hold(self) -> None:
        """Renews the lease every retry period; returns once it could not be renewed for the renew deadline (the
        caller must stop all work then: another replica may take the lease once it expires)."""
        assert self._renewed_at is not None, "hold() needs the lease: acquire() first"
        while True:
            await asyncio.sleep(self.timing.retry_period)
            if not await self._attempt() and time.monotonic() - self._renewed_at >= self.timing.renew_deadline:
                log.error(
                    "leader election: %s could not renew its lease for %.0f s",
                    self.identity,
                    self.timing.renew_deadline,
                )
                self._renewed_at = None
                return

    async def release(self) -> None:
        """Gives the lease up (a clean stop), so a standby takes over at its next try instead of after expiry."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        try:
            current = await self.api.get(self.ref)
            if current is not None and (current.get("spec") or {}).get("holderIdentity") == self.identity:
                await self.api.replace({**current, "spec": released_spec(current["spec"], datetime.now(UTC))})
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("leader election: could not release the lease (it expires on its own): %s", error)

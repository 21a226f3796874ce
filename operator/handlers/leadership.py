"""Two replicas, one active: the process holds the Lease before it starts kopf, and stops the moment it cannot renew.

A standby runs no kopf at all (no watch, no handler, no write): it answers its liveness probe, serves its metrics
(`fabrikam_operator_leader` 0) and tries the Lease every retry period. The leader exits at once when a renewal has
failed for the renew deadline, as controller-runtime does: finishing in-flight handlers would race the replica that
takes the Lease over once it expires. On SIGTERM the leader lets kopf finish, then releases the Lease so that the
standby takes over within one retry period instead of a lease duration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from urllib.parse import urlparse

import kopf
from aiohttp import web
from prometheus_client import start_http_server

from fabrikam.operator.apply.lease import LeaseElector, LeaseTiming
from fabrikam.operator.handlers.runtime import RUNTIME
from fabrikam.operator.handlers.settings import OperatorSettings
from fabrikam.operator.handlers.startup import connect
from fabrikam.operator.metrics import LEADER

NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
log = logging.getLogger(__name__)


def identity() -> str:
    """The pod's name (the chart's POD_ID; else the host's) and a random part, as client-go's identities: a container
    the kubelet restarts in the same pod is another process, and must not take back the lease it held as if it had
    never died while the standby waits for it to expire."""
    return f"{os.environ.get('POD_ID') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def lease_namespace(settings: OperatorSettings) -> str:
    if settings.lease_namespace:
        return settings.lease_namespace
    try:
        with open(NAMESPACE_FILE, encoding="utf-8") as found:
            return found.read().strip()
    except OSError as error:
        raise SystemExit(
            "leader election needs FABRIKAM_OPERATOR_LEASE_NAMESPACE outside a pod (no ServiceAccount namespace file)"
        ) from error


async def _standby_health(liveness: str | None) -> web.AppRunner | None:
    """Answers the liveness endpoint while waiting for the Lease (kopf's own takes the port over once leading)."""
    if not liveness:
        return None
    url = urlparse(liveness)
    app = web.Application()

    async def standby(_request: web.Request) -> web.Response:
        return web.json_response({"role": "standby"})

    app.router.add_get(url.path or "/", standby)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, url.hostname, url.port).start()
    return runner


async def run(*, liveness: str | None) -> None:
    """Elect, then run kopf until it stops or the Lease is lost. The process's entry point with leader election: the
    one place here that reads the process's settings."""
    settings = RUNTIME.settings
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    LEADER.set(0)
    _, api = connect(settings, kopf.OperatorSettings())
    timing = LeaseTiming(
        duration=settings.lease_duration_seconds,
        renew_deadline=settings.lease_renew_deadline_seconds,
        retry_period=settings.lease_retry_seconds,
    )
    elector = LeaseElector(api, lease_namespace(settings), settings.lease_name, identity(), timing)
    health = await _standby_health(liveness)
    log.info("leader election: %s waits for lease %s", elector.identity, settings.lease_name)
    try:
        await elector.acquire()
    finally:
        if health is not None:
            await health.cleanup()
    LEADER.set(1)
    held = asyncio.create_task(elector.hold(), name="lease renewal")
    operator = asyncio.create_task(
        kopf.operator(clusterwide=True, standalone=True, liveness_endpoint=liveness), name="kopf"
    )
    done, _ = await asyncio.wait({held, operator}, return_when=asyncio.FIRST_COMPLETED)
    if held in done:
        LEADER.set(0)
        log.critical("leader election: lease lost; exiting so that no two replicas reconcile at once")
        logging.shutdown()
        os._exit(1)
    held.cancel()
    await elector.release()
    LEADER.set(0)
    await api.close()
    operator.result()

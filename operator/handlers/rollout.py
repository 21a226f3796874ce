"""Follows Deployment progress into DroneService status, one write per burst of Deployment changes.

A rollout changes a Deployment's status five to seven times in a few seconds; writing the DroneService's status on
each of them was the operator's largest share of API requests while 1000 services converged. The first change
schedules a write a moment later, which then reads the latest state seen on the watch stream.
"""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from fabrikam.operator.apply.client import ApiError
from fabrikam.operator.handlers import indexes
from fabrikam.operator.handlers.indexes import ServiceKey
from fabrikam.operator.handlers.runtime import OwnerKey, Runtime, deployment_key
from fabrikam.operator.handlers.status import write_service_status

logger = logging.getLogger(__name__)


def follow(runtime: Runtime, owner: OwnerKey, services: Mapping[ServiceKey, Any]) -> None:
    """Schedules a status refresh of the service `owner`; a refresh already scheduled covers this change too."""
    if owner not in runtime.status_refreshes:
        runtime.status_refreshes[owner] = asyncio.create_task(_refresh_later(runtime, owner, services))


async def _refresh_later(runtime: Runtime, owner: OwnerKey, services: Mapping[ServiceKey, Any]) -> None:
    try:
        await asyncio.sleep(runtime.settings.status_coalesce_seconds)
    finally:
        runtime.status_refreshes.pop(owner, None)
    _, namespace, name = owner
    outcome = runtime.outcomes.get(owner)
    service = indexes.one(services, (namespace, name))
    if outcome is None or service is None or outcome.generation != service["metadata"].get("generation"):
        return  # not reconciled by this process yet, or a newer spec is being reconciled right now
    try:
        await write_service_status(
            runtime.kube(), service, outcome, runtime.deployments.get(deployment_key(owner)), runtime.models
        )
    except Exception as error:  # a background task: report; the next Deployment change or resync retries
        if not (isinstance(error, ApiError) and error.status == 404):  # 404: deleted meanwhile, nothing to report
            logger.warning("could not update the status of DroneService %s/%s: %s", namespace, name, error)

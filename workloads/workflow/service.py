"""Wires the workflow: consumes delivery requests and the other services' events."""

from fabrikam.workloads.contracts import DELIVERY_REQUESTS, WORKFLOW_EVENTS
from fabrikam.workloads.kit.auth import Auth, TokenVerifier, protected
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.workflow import api
from fabrikam.workloads.workflow.handlers import SagaHandler
from fabrikam.workloads.workflow.saga import FINAL, Saga

FINISHED_SAGA_RETENTION_SECONDS = 7 * 86_400


def saga_retention(saga: Saga) -> int | None:
    """Finished sagas expire after a week, so orchestration state does not grow without bound."""
    return FINISHED_SAGA_RETENTION_SECONDS if saga.stage in FINAL else None


def build(runtime: Runtime) -> ServiceParts:
    sagas = VersionedDocuments(runtime.redis, "saga", Saga, retention=saga_retention)
    handlers = SagaHandler(sagas, runtime.broker).handlers()
    auth = Auth(TokenVerifier.from_settings(runtime.settings))
    return ServiceParts(
        title="Fabrikam workflow",
        routers=[protected(auth, api.router(sagas))],
        on_stop=[auth.close],
        consumers={DELIVERY_REQUESTS: handlers, WORKFLOW_EVENTS: handlers},
    )

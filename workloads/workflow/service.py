"""Wires the workflow: consumes delivery requests and the other services' events, and runs the step timer."""

from fabrikam.workloads.contracts import DELIVERY_REQUESTS, WORKFLOW_EVENTS
from fabrikam.workloads.kit.auth import Auth, TokenVerifier, protected
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.workflow import api
from fabrikam.workloads.workflow.handlers import SagaHandler
from fabrikam.workloads.workflow.saga import FINAL, Saga, StepPolicy
from fabrikam.workloads.workflow.store import SagaStore
from fabrikam.workloads.workflow.timer import StepTimer

FINISHED_SAGA_RETENTION_SECONDS = 7 * 86_400


def saga_retention(saga: Saga) -> int | None:
    """Finished sagas expire after a week, so orchestration state does not grow without bound."""
    return FINISHED_SAGA_RETENTION_SECONDS if saga.stage in FINAL else None


def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    policy = StepPolicy(settings.workflow_step_timeout_seconds, settings.workflow_step_attempts)
    documents = VersionedDocuments(runtime.redis, "saga", Saga, retention=saga_retention)
    handlers = SagaHandler(SagaStore(documents, runtime.redis, policy), runtime.broker, policy).handlers()
    # Scanning a few times per timeout keeps a timeout's lateness small next to the timeout itself.
    timeout = policy.timeout_seconds
    timer = StepTimer(runtime.redis, runtime.broker, interval=min(1.0, timeout / 4), lease=max(timeout, 1.0))
    auth = Auth(TokenVerifier.from_settings(settings))
    return ServiceParts(
        title="Fabrikam workflow",
        routers=[protected(auth, api.router(documents))],
        on_start=[timer.start],
        on_stop=[timer.stop, auth.close],
        consumers={DELIVERY_REQUESTS: handlers, WORKFLOW_EVENTS: handlers},
    )

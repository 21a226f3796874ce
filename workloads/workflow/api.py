"""Read-only view of a saga, for support staff and tests: where a delivery's orchestration stands."""

from fastapi import APIRouter, HTTPException, Path
from pydantic import Field

from fabrikam.workloads.contracts import Contract
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.openapi import declared
from fabrikam.workloads.workflow.saga import Saga, Stage


class SagaView(Contract):
    delivery_id: str
    stage: Stage
    package_id: str | None = None
    drone_id: str | None = None
    reason: str | None = None
    step_attempt: int = Field(ge=0, description="How many times the command of the current step was sent")
    messages_applied: int = Field(ge=0)


def router(sagas: VersionedDocuments[Saga]) -> APIRouter:
    api = APIRouter(prefix="/v1/workflows", tags=["workflows"])

    @api.get(
        "/{delivery_id}",
        response_model=SagaView,
        responses=declared(404),
        summary="Orchestration state of one delivery",
    )
    async def get_workflow(delivery_id: str = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")) -> SagaView:
        stored = await sagas.load(delivery_id)
        if stored is None:
            raise HTTPException(404, f"no workflow for delivery {delivery_id}")
        saga = stored.document
        return SagaView(
            delivery_id=saga.delivery_id,
            stage=saga.stage,
            package_id=saga.package_id,
            drone_id=saga.drone.drone_id if saga.drone else None,
            reason=saga.reason,
            step_attempt=saga.step_attempt,
            messages_applied=len(saga.applied),
        )

    return api

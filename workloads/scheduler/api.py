"""Fleet API: register drones and read their state; assignment happens only through commands."""

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from fabrikam.workloads.kit.auth import Auth, Role
from fabrikam.workloads.kit.openapi import declared
from fabrikam.workloads.scheduler.fleet import Drone, DroneRegistration, Fleet

DRONE_ID = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")


def router(fleet: Fleet, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/v1/drones", tags=["drones"])

    @api.get("", response_model=list[Drone], summary="List drones")
    async def list_drones(offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> list[Drone]:
        return await fleet.page(offset, limit)

    @api.get("/{drone_id}", response_model=Drone, responses=declared(404), summary="One drone")
    async def get_drone(drone_id: str = DRONE_ID) -> Drone:
        drone = await fleet.get(drone_id)
        if drone is None:
            raise HTTPException(404, f"no drone {drone_id}")
        return drone

    @api.put(
        "/{drone_id}",
        response_model=Drone,
        summary="Register or update a drone",
        dependencies=[Depends(auth.require(Role.drone_operator, Role.business_admin))],
    )
    async def put_drone(registration: DroneRegistration, drone_id: str = DRONE_ID) -> Drone:
        await fleet.register(drone_id, registration)
        drone = await fleet.get(drone_id)
        assert drone is not None
        return drone

    return api

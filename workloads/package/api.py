"""Package routes: read a package record."""

from fastapi import APIRouter, HTTPException, Path

from fabrikam.workloads.kit.openapi import declared
from fabrikam.workloads.package.store import PackageRecord, PackageStore


def router(store: PackageStore) -> APIRouter:
    api = APIRouter(prefix="/v1/packages", tags=["packages"])

    @api.get("/{package_id}", response_model=PackageRecord, responses=declared(404), summary="One package")
    async def get_package(package_id: str = Path(pattern=r"^[A-Za-z0-9-]{1,80}$")) -> PackageRecord:
        record = await store.get(package_id)
        if record is None:
            raise HTTPException(404, f"no package {package_id}")
        return record

    return api

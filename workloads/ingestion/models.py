"""The public request bodies of the ingestion API, validated field by field."""

from datetime import timedelta

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator, model_validator

from fabrikam.workloads.contracts import MAX_WEIGHT_KG, Contract, IsoDatetime, Location, PackageInfo

MAX_SCHEDULE_AHEAD = timedelta(days=30)


class DeliveryRequest(Contract):
    """`POST /v1/deliveryrequests`: who ships what from where to where, and when."""

    owner: str = Field(min_length=1, max_length=128)
    pickup: Location
    dropoff: Location
    pickup_time: IsoDatetime
    deadline: IsoDatetime
    expedited: bool = Field(default=False, strict=True)
    confirmation_required: bool = Field(default=False, strict=True)
    package: PackageInfo

    @field_validator("deadline")
    @classmethod
    def deadline_after_pickup(cls, deadline: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        pickup_time = info.data.get("pickup_time")
        if pickup_time is not None and deadline <= pickup_time:
            raise ValueError("deadline must be after pickupTime")
        if pickup_time is not None and deadline - pickup_time > MAX_SCHEDULE_AHEAD:
            raise ValueError("deadline must be within 30 days of pickupTime")
        return deadline

    @field_validator("package")
    @classmethod
    def weight_fits_size(cls, package: PackageInfo) -> PackageInfo:
        if package.weight_kg > MAX_WEIGHT_KG[package.size]:
            raise ValueError(f"weightKg {package.weight_kg} exceeds {MAX_WEIGHT_KG[package.size]} for {package.size}")
        return package


class RescheduleRequest(Contract):
    """`PATCH /v1/deliveryrequests/{id}`: a new pickup time, a new deadline, or both."""

    pickup_time: IsoDatetime | None = None
    deadline: IsoDatetime | None = None

    @model_validator(mode="after")
    def something_changes(self) -> "RescheduleRequest":
        if self.pickup_time is None and self.deadline is None:
            raise ValueError("pickupTime or deadline is required")
        if self.pickup_time and self.deadline and self.deadline <= self.pickup_time:
            raise ValueError("deadline must be after pickupTime")
        return self


class Accepted(Contract):
    delivery_id: str

"""The messages services exchange and the queues that carry them: the only coupling between services.

Services never call each other over HTTP (seed anti-pattern: a synchronous chain); they send commands to a
service's queue and it answers with events on the workflow's queue.
"""

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DELIVERY_REQUESTS = "delivery-requests"
WORKFLOW_EVENTS = "workflow-events"
PACKAGE_COMMANDS = "package-commands"
SCHEDULER_COMMANDS = "scheduler-commands"
DELIVERY_COMMANDS = "delivery-commands"
DELIVERY_TELEMETRY = "delivery-telemetry"
NOTIFICATION_EVENTS = "notification-events"


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"  # E.164


class Contract(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are refused so typos surface."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class DeliveryScoped(Contract):
    """A message about one delivery; the saga and the stores key on its id."""

    delivery_id: str


class PackageSize(StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


MAX_WEIGHT_KG = {PackageSize.small: 2.0, PackageSize.medium: 10.0, PackageSize.large: 25.0}
SIZE_RANK = {PackageSize.small: 1, PackageSize.medium: 2, PackageSize.large: 3}


class Location(Contract):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: str = Field(default="", max_length=200)


class PackageInfo(Contract):
    size: PackageSize
    weight_kg: float = Field(gt=0, le=25)
    tag: str = Field(min_length=1, max_length=64)


class DroneSnapshot(Contract):
    """The drone as it was when assigned: enough for delivery to compute ETAs before telemetry arrives."""

    drone_id: str
    latitude: float
    longitude: float
    speed_mps: float = Field(gt=0)


class DeliveryRequested(DeliveryScoped):
    owner: str
    pickup: Location
    dropoff: Location
    pickup_time: AwareDatetime
    deadline: AwareDatetime
    expedited: bool
    confirmation_required: bool
    package: PackageInfo
    requested_at: datetime


class DeliveryRescheduled(DeliveryScoped):
    pickup_time: AwareDatetime | None = None
    deadline: AwareDatetime | None = None


class DeliveryCancelled(DeliveryScoped):
    reason: str = "cancelled by the customer"


class CreatePackage(Contract):
    package_id: str
    delivery_id: str
    package: PackageInfo


class CancelPackage(Contract):
    package_id: str
    delivery_id: str


class PackageCreated(DeliveryScoped):
    package_id: str


class PackageRejected(DeliveryScoped):
    package_id: str
    reason: str


class AssignDrone(DeliveryScoped):
    pickup: Location
    size: PackageSize


class ReleaseDrone(DeliveryScoped):
    """Put the drone assigned to this delivery back in the available fleet."""


class DroneAssigned(DeliveryScoped):
    drone: DroneSnapshot


class DroneUnavailable(DeliveryScoped):
    reason: str


class ScheduleDelivery(DeliveryScoped):
    package_id: str
    drone: DroneSnapshot
    pickup: Location
    dropoff: Location
    pickup_time: AwareDatetime
    deadline: AwareDatetime
    expedited: bool
    confirmation_required: bool


class RescheduleDelivery(DeliveryScoped):
    pickup_time: AwareDatetime
    deadline: AwareDatetime


class CancelDelivery(DeliveryScoped):
    """Stop tracking this delivery; it will not fly."""


class DeliveryScheduled(DeliveryScoped):
    """The delivery service tracks this delivery from now on."""


class DeliveryCompleted(DeliveryScoped):
    """The package reached its drop-off (and was confirmed when required)."""


class StepTimedOut(DeliveryScoped):
    """Sent by the workflow's own timer to its queue: a step's deadline passed without its reply."""

    deadline: AwareDatetime


class DronePositionReported(Contract):
    """Published by the drone telemetry service; delivery tracks positions and stages from it."""

    drone_id: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    speed_mps: float = Field(ge=0, description="0 while hovering; delivery keeps the last non-zero speed")
    reported_at: AwareDatetime


class DeliveryStageChanged(DeliveryScoped):
    """Published by delivery on every stage transition, for the notification service (its own queue)."""

    stage: str
    at: AwareDatetime
    delivery_eta: AwareDatetime | None = None

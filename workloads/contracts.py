"""The messages services exchange and the queues that carry them: the only coupling between services.

Services never call each other over HTTP (seed anti-pattern: a synchronous chain); they send commands to a
service's queue and it answers with events on the workflow's queue.
"""

from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

DELIVERY_REQUESTS = "delivery-requests"
WORKFLOW_EVENTS = "workflow-events"
PACKAGE_COMMANDS = "package-commands"
SCHEDULER_COMMANDS = "scheduler-commands"
DELIVERY_COMMANDS = "delivery-commands"
DELIVERY_TELEMETRY = "delivery-telemetry"
NOTIFICATION_EVENTS = "notification-events"
# Every queue above: the operator creates each (with its dead-letter queue); `fabrikam dlq list` looks at each.
QUEUES = (
    DELIVERY_REQUESTS,
    WORKFLOW_EVENTS,
    PACKAGE_COMMANDS,
    SCHEDULER_COMMANDS,
    DELIVERY_COMMANDS,
    DELIVERY_TELEMETRY,
    NOTIFICATION_EVENTS,
)


# No control characters anywhere: an address is one line in an email header, and PostgreSQL refuses a NUL in text.
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,190}\.[A-Za-z]{2,63}$"
# RFC 5321's limit on a path, and the width of the account database's email columns.
EMAIL_MAX_LENGTH = 254
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"  # E.164
# A name or a label shown to people: one line, no control characters (PostgreSQL refuses a NUL in text).
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"

Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=EMAIL_MAX_LENGTH)]


# Times a request may name. Far from the ends of Python's datetime range, where adding an ETA to a pickup time
# or converting a time to UTC raises OverflowError in the services that handle it later.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _text(value: object) -> object:
    """Lax parsing would take a number for Unix seconds, which the published schema (ISO 8601 text) refuses."""
    if isinstance(value, int | float):
        raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 date and time with its offset")
    return value


def _plausible(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise PydanticCustomError("datetime_range", "Input should be a time in the years 2000 to 2099")
    return moment


# A time in a request body: ISO 8601 text with its UTC offset, as the schema says, in this century.
IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_text), AfterValidator(_plausible)]

# Redis GEO, which indexes the fleet and searches it from pickups, places points only within this latitude (the
# limit of the Web Mercator projection behind its geohashes) and answers an error for any point nearer a pole.
GEO_MAX_LATITUDE = 85.05112878


def _indexable(latitude: float) -> float:
    """Refused with a reason the caller can act on, where Redis would have failed the request with a 500."""
    if not -GEO_MAX_LATITUDE <= latitude <= GEO_MAX_LATITUDE:
        raise PydanticCustomError(
            "geo_latitude",
            "latitude must be within ±{limit}°: drones are indexed with Redis GEO, which cannot place a point "
            "nearer a pole",
            {"limit": GEO_MAX_LATITUDE},
        )
    return latitude


GeoLatitude = Annotated[
    float,
    AfterValidator(_indexable),
    Field(
        strict=True,
        json_schema_extra={"minimum": -GEO_MAX_LATITUDE, "maximum": GEO_MAX_LATITUDE},
        description="Degrees, within ±85.05112878 (the limit of the Redis GEO index the fleet is searched in)",
    ),
]


# The validation context of a read of what another version of the services may have written: a message, a stored
# document, an event of the history. During a rolling update (or after a rollback) the pods of two versions share
# the queues and the stores; a field the newer one added must not make the older one refuse the message (to its
# dead letters) or the document (stranding the delivery), so such reads drop the fields they do not know.
FROM_PEERS: dict[str, Any] = {"peers": True}


@cache
def _known_keys(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}


class Contract(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields in a request body are refused so typos surface,
    and dropped from what other services wrote (read with `context=FROM_PEERS`, nested models too).

    The numbers and booleans of request bodies are strict (`Field(strict=True)`): lax parsing would take `false`
    for 0 and `"1"` for 1, accepting what the published schema refuses (a drone registered at latitude 0)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_what_a_newer_peer_added(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context is not None and info.context.get("peers"):
            known = _known_keys(cls)
            return {key: value for key, value in data.items() if key in known}
        return data


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
    """A place drones fly from or to: the scheduler searches the fleet's GEO index from it."""

    latitude: GeoLatitude
    longitude: float = Field(strict=True, ge=-180, le=180)
    address: str = Field(default="", max_length=200)


class PackageInfo(Contract):
    size: PackageSize
    weight_kg: float = Field(strict=True, gt=0, le=25)
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

"""Request bodies refuse what the published schema refuses, and what a store behind them cannot take."""

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.workloads.contracts import GEO_MAX_LATITUDE
from fabrikam.workloads.ingestion.models import DeliveryRequest
from fabrikam.workloads.scheduler.fleet import DroneRegistration
from fabrikam.workloads.telemetry.models import TelemetryReport


def drone(**changes: Any) -> dict[str, Any]:
    return {"latitude": 47.6, "longitude": -122.3, "battery": 90, "payloadClass": "small", "speedMps": 12, **changes}


def report(**changes: Any) -> dict[str, Any]:
    return {
        "droneId": "d-1",
        "latitude": 47.6,
        "longitude": -122.3,
        "altitudeM": 100,
        "battery": 80,
        "speedMps": 10,
        "flightMode": "cruise",
        "reportedAt": "2030-01-01T10:00:00Z",
        **changes,
    }


def delivery(**changes: Any) -> dict[str, Any]:
    return {
        "owner": "acme",
        "pickup": {"latitude": 47.6, "longitude": -122.3},
        "dropoff": {"latitude": 47.7, "longitude": -122.4},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "package": {"size": "small", "weightKg": 1, "tag": "t"},
        **changes,
    }


def refused(model: type[DroneRegistration | TelemetryReport | DeliveryRequest], body: dict[str, Any]) -> list[Any]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return [(error["loc"], error["type"]) for error in raised.value.errors()]


@pytest.mark.parametrize("latitude", [89.0, -85.0511288, float("nan"), float("inf")])
def test_a_latitude_redis_geo_cannot_index_is_refused_saying_why(latitude: float) -> None:
    with pytest.raises(ValidationError, match=r"latitude must be within ±85.05112878°: drones are indexed"):
        DroneRegistration.model_validate(drone(latitude=latitude))
    assert refused(DeliveryRequest, delivery(pickup={"latitude": latitude, "longitude": 0})) == [
        (("pickup", "latitude"), "geo_latitude")
    ]


def test_the_geo_limit_itself_is_accepted() -> None:
    assert DroneRegistration.model_validate(drone(latitude=GEO_MAX_LATITUDE)).latitude == GEO_MAX_LATITUDE


@pytest.mark.parametrize("value", [False, True, "12"])
def test_a_number_is_a_number_not_a_boolean_nor_text(value: object) -> None:
    assert refused(DroneRegistration, drone(latitude=value)) == [(("latitude",), "float_type")]
    assert refused(DroneRegistration, drone(battery=value)) == [(("battery",), "float_type")]
    assert refused(TelemetryReport, report(speedMps=value)) == [(("speedMps",), "float_type")]


def test_a_boolean_is_a_boolean() -> None:
    assert refused(DeliveryRequest, delivery(expedited=1)) == [(("expedited",), "bool_type")]


@pytest.mark.parametrize(
    ("reported_at", "kind"),
    [
        (0, "datetime_type"),
        (1_900_000_000.5, "datetime_type"),
        ("0001-01-01T00:00:00+14:00", "datetime_range"),
        ("9999-12-31T23:59:59-14:00", "datetime_range"),
        ("1999-12-31T23:59:59Z", "datetime_range"),
    ],
)
def test_a_time_is_iso_text_in_this_century(reported_at: object, kind: str) -> None:
    assert refused(TelemetryReport, report(reportedAt=reported_at)) == [(("reportedAt",), kind)]


def test_ints_still_count_as_numbers() -> None:
    assert DroneRegistration.model_validate(drone(latitude=47, battery=90)).latitude == 47.0

"""Ingestion rules without I/O: field validation, idempotent ids and per-client rate limits."""

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.workloads.ingestion.api import delivery_id_for
from fabrikam.workloads.ingestion.models import DeliveryRequest, RescheduleRequest
from fabrikam.workloads.ingestion.ratelimit import RateLimiter


def valid_body() -> dict[str, Any]:
    return {
        "owner": "acme",
        "pickup": {"latitude": 47.6, "longitude": -122.3, "address": "1 Pike St"},
        "dropoff": {"latitude": 47.7, "longitude": -122.4, "address": "2 Pine St"},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "package": {"size": "small", "weightKg": 1.0, "tag": "t"},
    }


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("package", "size"), "huge", ("package", "size")),
        (("pickup", "latitude"), 91, ("pickup", "latitude")),
        (("deadline",), "2030-01-01T09:00:00Z", ("deadline",)),
        (("pickupTime",), "2030-01-01T10:00:00", ("pickupTime",)),
        (("package", "weightKg"), 5.0, ("package",)),
        (("owner",), "", ("owner",)),
    ],
)
def test_each_invalid_field_is_named(path: tuple[str, ...], value: object, field: tuple[str, ...]) -> None:
    body = valid_body()
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as raised:
        DeliveryRequest.model_validate(body)
    assert [error["loc"] for error in raised.value.errors()] == [field]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="colour"):
        DeliveryRequest.model_validate({**valid_body(), "colour": "red"})


def test_reschedule_needs_at_least_one_time() -> None:
    with pytest.raises(ValidationError, match="pickupTime or deadline is required"):
        RescheduleRequest.model_validate({})


def test_the_same_idempotency_key_gives_the_same_delivery_id_per_owner() -> None:
    assert delivery_id_for("acme", "k1") == delivery_id_for("acme", "k1")
    assert delivery_id_for("acme", "k1") != delivery_id_for("other", "k1")
    assert delivery_id_for("acme", None) != delivery_id_for("acme", None)


def test_a_client_past_its_burst_waits_and_others_do_not() -> None:
    limiter = RateLimiter(per_second=2, burst=2)
    assert [limiter.retry_after("a", now=0.0) for _ in range(3)] == [0, 0, 1]
    assert limiter.retry_after("b", now=0.0) == 0
    assert limiter.retry_after("a", now=0.5) == 0


def test_forgotten_clients_are_bounded() -> None:
    limiter = RateLimiter(per_second=1, burst=1, max_clients=3)
    for client in "abcdef":
        limiter.retry_after(client, now=0.0)
    assert limiter.retry_after("a", now=0.0) == 0  # "a" was forgotten, so it starts with a full bucket

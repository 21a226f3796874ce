"""Two versions of the services side by side (a rolling update, a rollback): what one wrote, the other reads.

A field a newer version added to a message or a stored document is dropped by an older reader instead of refused
(which would dead-letter the message or strand the delivery); a request body with an unknown field is still refused,
naming it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from fabrikam.workloads.contracts import FROM_PEERS, RescheduleDelivery
from fabrikam.workloads.delivery.model import TrackedDelivery
from fabrikam.workloads.ingestion.models import DeliveryRequest

WORKLOADS = Path(__file__).resolve().parents[3] / "workloads"
# Reads of what no peer wrote, checked as strictly as a request body: the payment provider's signed webhook, the
# drones' telemetry frames on the WebSocket.
OUTSIDE_READS = {("account/api.py", "payments.PaymentNotification"), ("telemetry/api.py", "TelemetryBatch")}


def _newer(document: dict[str, object]) -> str:
    """The document as a newer version writes it: a field of its own at the top and in a nested object."""
    return json.dumps(document | {"addedLater": {"x": 1}})


def test_a_stored_delivery_written_by_a_newer_version_is_read_without_its_new_fields() -> None:
    stored = {
        "id": "d-1",
        "stage": "scheduled",
        "pickup": {"latitude": 47.6, "longitude": -122.3, "address": "1 Pike", "floor": 3},
    }
    read = TrackedDelivery.model_validate_json(_newer(stored), context=FROM_PEERS)
    assert (read.id, read.pickup.latitude if read.pickup else None) == ("d-1", 47.6)
    with pytest.raises(ValidationError, match="addedLater"):
        TrackedDelivery.model_validate_json(_newer(stored))  # without the context: refused, as before


def test_a_command_from_a_newer_peer_is_handled_without_its_new_fields() -> None:
    body = {"deliveryId": "d-1", "pickupTime": "2030-01-01T10:00:00Z", "deadline": "2030-01-01T12:00:00Z"}
    command = RescheduleDelivery.model_validate(body | {"reason": "customer asked"}, context=FROM_PEERS)
    assert command.delivery_id == "d-1"
    with pytest.raises(ValidationError, match="reason"):
        RescheduleDelivery.model_validate(body | {"reason": "customer asked"})


def test_a_request_body_with_an_unknown_field_is_still_refused_naming_it() -> None:
    body = {
        "owner": "o",
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "pickup": {"latitude": 47.6, "longitude": -122.3},
        "dropoff": {"latitude": 47.62, "longitude": -122.35},
        "package": {"size": "small", "weightKg": 1.0, "tag": "t"},
        "priorty": "high",
    }
    with pytest.raises(ValidationError, match="priorty"):
        DeliveryRequest.model_validate(body)


def _reads_without_peers_context() -> list[tuple[str, int, str]]:
    """Every `X.model_validate(...)`/`model_validate_json(...)` of a contract in the services without
    `context=FROM_PEERS`, but the API bodies FastAPI validates (not called by hand) and the outside reads."""
    missing = []
    for path in sorted(WORKLOADS.rglob("*.py")):
        relative = str(path.relative_to(WORKLOADS))
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("model_validate", "model_validate_json"):
                continue
            owner = ast.unparse(node.func.value)
            if (relative, owner) in OUTSIDE_READS or any(k.arg == "context" for k in node.keywords):
                continue
            missing.append((relative, node.lineno, owner))
    return missing


def test_every_read_of_a_message_or_stored_document_tolerates_a_newer_peer() -> None:
    assert _reads_without_peers_context() == []

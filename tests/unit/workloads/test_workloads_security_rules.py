"""Pure security rules: webhook signatures, PII sealing, telemetry limits from settings."""

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from fabrikam.workloads.account.payments import BadSignature, sign, verify
from fabrikam.workloads.kit.pii import FieldCipher
from fabrikam.workloads.telemetry.models import FlightMode, TelemetryReport, out_of_range

BODY = b'{"id":"evt-1"}'


def test_a_fresh_authentic_signature_verifies_and_names_its_digest() -> None:
    header = sign("secret", 1_700_000_000, BODY)
    assert verify("secret", header, BODY, 300, now=1_700_000_100) == header.split("v1=")[1]


@pytest.mark.parametrize(
    ("header", "body", "now", "reason"),
    [
        (None, BODY, 1_700_000_000, "missing Fabrikam-Signature header"),
        ("t=abc,v1=00", BODY, 1_700_000_000, "malformed Fabrikam-Signature header"),
        (sign("other", 1_700_000_000, BODY), BODY, 1_700_000_000, "signature does not match"),
        (sign("secret", 1_700_000_000, BODY), b'{"id":"evt-2"}', 1_700_000_000, "signature does not match"),
        (sign("secret", 1_700_000_000, BODY), BODY, 1_700_000_301, "stale timestamp"),
        (sign("secret", 1_700_000_400, BODY), BODY, 1_700_000_000, "stale timestamp"),
    ],
)
def test_bad_signatures_are_refused_with_a_reason(header: str | None, body: bytes, now: int, reason: str) -> None:
    with pytest.raises(BadSignature, match=reason):
        verify("secret", header, body, 300, now=now)


def test_pii_round_trips_only_in_its_own_context(tmp_path: Path) -> None:
    cipher = FieldCipher.from_key_file(tmp_path / "keys" / "pii.key", create=True)
    sealed = cipher.encrypt("+14255550100", "users.phone:u-1")
    assert sealed.startswith("v1:")
    assert "+1425" not in sealed
    assert cipher.encrypt("+14255550100", "users.phone:u-1") != sealed  # a fresh nonce every time
    assert cipher.decrypt(sealed, "users.phone:u-1") == "+14255550100"
    with pytest.raises(InvalidTag):
        cipher.decrypt(sealed, "users.phone:u-2")
    assert (tmp_path / "keys" / "pii.key").stat().st_mode & 0o777 == 0o600
    again = FieldCipher.from_key_file(tmp_path / "keys" / "pii.key", create=False)
    assert again.decrypt(sealed, "users.phone:u-1") == "+14255550100"


def test_a_missing_key_is_an_error_where_keys_are_not_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="FABRIKAM_PII_KEY_FILE"):
        FieldCipher.from_key_file(tmp_path / "absent.key", create=False)
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher(base64.b64decode(base64.b64encode(b"short")))


def report(**changes: object) -> TelemetryReport:
    values: dict[str, object] = {
        "drone_id": "d-1",
        "latitude": 47.6,
        "longitude": -122.3,
        "altitude_m": 60,
        "battery": 50,
        "speed_mps": 15,
        "flight_mode": FlightMode.cruise,
        "reported_at": datetime(2030, 1, 1, tzinfo=UTC),
    }
    values.update(changes)
    return TelemetryReport.model_validate(values)


def test_speed_and_clock_limits_come_from_settings_and_name_the_field() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    reports = [report(), report(speed_mps=80), report(reported_at=now + timedelta(minutes=5))]
    errors = out_of_range(reports, max_speed_mps=60, max_skew_seconds=30, now=now)
    assert [error["loc"] for error in errors] == [
        ["body", "reports", 1, "speedMps"],
        ["body", "reports", 2, "reportedAt"],
    ]
    assert out_of_range(reports[:2], max_speed_mps=100, max_skew_seconds=30, now=now) == []

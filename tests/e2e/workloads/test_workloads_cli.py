"""`fabrikam services up` / `token` / `down` as a user runs them: real processes, URLs on the last line."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from .conftest import delivery_body

FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))


def port_open(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


def test_services_up_serves_deliveries_and_down_stops_everything(tmp_path: Path) -> None:
    directory = tmp_path / "services"
    up = subprocess.run(
        [FABRIKAM, "services", "up", "--directory", str(directory), "--drones", "5"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        assert up.returncode == 0, up.stderr
        urls = json.loads(up.stdout.strip().splitlines()[-1])
        assert set(urls) == {
            "account",
            "ingestion",
            "workflow",
            "package",
            "scheduler",
            "delivery",
            "drone-telemetry",
            "notification",
        }
        assert all(httpx.get(f"{url}/healthz", timeout=10).status_code == 200 for url in urls.values())
        printed = subprocess.run(
            [FABRIKAM, "services", "token", "--directory", str(directory)], capture_output=True, text=True, timeout=60
        )
        assert printed.returncode == 0, printed.stderr
        headers = {"Authorization": f"Bearer {printed.stdout.strip()}"}
        assert httpx.get(f"{urls['scheduler']}/v1/drones", timeout=10).status_code == 401
        assert len(httpx.get(f"{urls['scheduler']}/v1/drones", headers=headers, timeout=10).json()) == 5
        body = delivery_body(1, owner="fabrikam-demo")
        accepted = httpx.post(f"{urls['ingestion']}/v1/deliveryrequests", json=body, headers=headers, timeout=10)
        delivery_id = accepted.json()["deliveryId"]
        deadline = time.monotonic() + 60
        stage = None
        while time.monotonic() < deadline and stage != "scheduled":
            response = httpx.get(f"{urls['delivery']}/v1/deliveries/{delivery_id}", headers=headers, timeout=10)
            stage = response.json()["stage"] if response.status_code == 200 else None
            time.sleep(0.2)
        assert stage == "scheduled"
    finally:
        down = subprocess.run(
            [FABRIKAM, "services", "down", "--directory", str(directory)], capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    assert not any(port_open(url) for url in urls.values())
    assert not (directory / "state.json").exists()

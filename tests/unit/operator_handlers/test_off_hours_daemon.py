"""The off-hours daemon of a platform: it re-checks the services when the answer flips or the window changes, says
so in an Event, and leaves nothing behind when it stops."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.operator.api.platform import OffHours
from fabrikam.operator.handlers import cluster_events, drone_service, off_hours
from fabrikam.operator.handlers.runtime import RUNTIME

SAMPLE = Path(__file__).resolve().parents[3] / "config" / "samples" / "platform.yaml"
ALWAYS = {"start": "00:00", "end": "00:00", "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}

# The indexes kopf passes that the daemon does not read.
NO_OTHER_INDEXES: dict[str, dict[str, list[object]]] = {"services": {}, "callers": {}, "exposers": {}}


def _platform(generation: int, window: dict[str, Any] | None, uid: str = "0a1b2c3d") -> dict[str, Any]:
    """The sample as staging; parsed models are cached by uid and generation, so each test uses its own uid."""
    doc: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    doc["metadata"] |= {"uid": uid, "generation": generation}
    doc["spec"] |= {"profile": "staging", "cost": {"offHours": window} if window else {}}
    return doc


class Recorder:
    def __init__(self) -> None:
        self.rechecks: list[list[str]] = []
        self.events: list[tuple[str, str]] = []

    async def resync_each(self, _context: Any, services: list[dict[str, Any]], **__: Any) -> None:
        self.rechecks.append([s["metadata"]["name"] for s in services])

    async def post(self, _api: Any, _body: Any, *, type: str, reason: str, message: str) -> None:
        self.events.append((reason, message))


class Stopped:
    """kopf's `stopped` flag as the daemon uses it."""

    def __init__(self) -> None:
        self.flag = asyncio.Event()

    def __bool__(self) -> bool:
        return self.flag.is_set()

    def wait(self) -> Any:
        return self.flag.wait()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recording = Recorder()
    monkeypatch.setattr(RUNTIME, "api", object())  # an open connection, for the Events the recorder takes instead
    monkeypatch.setattr(drone_service, "resync_each", recording.resync_each)
    monkeypatch.setattr(cluster_events, "post", recording.post)
    return recording


async def _until(check: Any) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_the_daemon_rechecks_the_services_when_the_window_changes(recorder: Recorder) -> None:
    body = _platform(1, ALWAYS)
    platforms = {"fabrikam": [body]}
    indexes = {
        "platforms": platforms,
        "services_by_platform": {"fabrikam": [{"metadata": {"name": "ingestion"}}]},
        **NO_OTHER_INDEXES,
    }
    stopped = Stopped()
    daemon = asyncio.create_task(
        off_hours.follow_off_hours(
            name="fabrikam", body=body, stopped=stopped, logger=logging.getLogger("test"), **indexes
        )
    )
    await _until(lambda: recorder.events)
    assert recorder.rechecks == [["ingestion"]]
    assert recorder.events[0][0] == "OffHours"
    assert "until further notice" in recorder.events[0][1]

    await off_hours.window_changed(type="MODIFIED", name="fabrikam", body=body)  # same window: sleeps on
    await asyncio.sleep(0.05)
    assert len(recorder.rechecks) == 1

    platforms["fabrikam"] = [changed := _platform(2, None)]
    await off_hours.window_changed(type="MODIFIED", name="fabrikam", body=changed)
    await _until(lambda: len(recorder.events) == 2)
    assert recorder.rechecks == [["ingestion"], ["ingestion"]]
    assert recorder.events[1][0] == "WorkingHours"

    stopped.flag.set()  # the platform or the operator goes: the daemon returns at once
    await asyncio.wait_for(daemon, 1)
    assert "fabrikam" not in RUNTIME.off_hours


async def test_working_hours_at_first_sight_need_no_event(recorder: Recorder) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)
    window = {"start": f"{later:%H:%M}", "end": f"{later + timedelta(hours=1):%H:%M}", "days": ALWAYS["days"]}
    body = _platform(1, window, uid="4e5f6a7b")
    indexes = {"platforms": {"fabrikam": [body]}, "services_by_platform": {}, **NO_OTHER_INDEXES}
    daemon = asyncio.create_task(
        off_hours.follow_off_hours(
            name="fabrikam", body=body, stopped=Stopped(), logger=logging.getLogger("test"), **indexes
        )
    )
    await _until(lambda: recorder.rechecks)
    daemon.cancel()  # kopf's fallback when a daemon does not return in time
    with pytest.raises(asyncio.CancelledError):
        await daemon
    assert "fabrikam" not in RUNTIME.off_hours
    assert recorder.events == []


def test_the_event_names_the_end_in_the_platforms_time_zone() -> None:
    spec = OffHours.model_validate({"start": "19:00", "end": "07:00", "timeZone": "Europe/Berlin", "minReplicas": 1})
    reason, message = off_hours.announcement(spec, datetime.fromisoformat("2025-03-28T18:00:00+00:00"))
    assert reason == "OffHours"
    assert message.startswith("off-hours until Mon 2025-03-31 07:00 CEST: every service's autoscaler minimum is 1")
    reason, message = off_hours.announcement(spec, datetime.fromisoformat("2025-03-31T05:00:00+00:00"))
    assert (reason, message) == (
        "WorkingHours",
        "working hours until Mon 2025-03-31 19:00 CEST: the services' autoscalers are back at their own minimums",
    )
    reason, message = off_hours.announcement(None, datetime.fromisoformat("2025-03-31T05:00:00+00:00"))
    assert reason == "WorkingHours"


def test_the_event_on_the_platform_names_no_namespace_so_kubectl_describe_finds_it() -> None:
    platform = _platform(1, ALWAYS)
    event = cluster_events.event_for(platform, type="Normal", reason="OffHours", message="x" * 2000)
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"] == {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "name": "fabrikam",
        "uid": "0a1b2c3d",
    }
    assert len(event["message"]) == 1024

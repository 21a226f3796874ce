"""Off-hours on the local control plane: a staging platform inside its window runs every autoscaler at the off-hours
minimum; a window moved away, or one opening by the clock, changes them within seconds. The operator's resync is an
hour away here, so only the off-hours daemon can have done it."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

EVERY_DAY = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
PROPAGATION_SECONDS = 20
DIGEST = "sha256:" + "e" * 64
TEAM_SERVICE = "analytics"


def _window(opens: datetime, hours: int = 1) -> dict[str, Any]:
    """A UTC window on every day from `opens` (to the minute) for `hours`."""
    return {
        "start": f"{opens:%H:%M}",
        "end": f"{opens + timedelta(hours=hours):%H:%M}",
        "days": EVERY_DAY,
        "timeZone": "UTC",
        "minReplicas": 1,
    }


@pytest.fixture(scope="module")
def platform(cluster: Any, operator_factory: Any, kit: Any) -> Iterator[dict[str, Any]]:
    """The sample platform as staging, its window covering now, with a team's own service beside the bundled ones."""
    operator_factory({"FABRIKAM_OPERATOR_RESYNC_SECONDS": "3600"})
    platform = kit.sample_platform()
    platform["spec"] |= {"profile": "staging", "cost": {"offHours": _window(datetime.now(UTC) - timedelta(hours=1), 2)}}
    shipping = next(t["namespace"] for t in platform["spec"]["teams"] if t["name"] == "shipping")
    team_service = {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": TEAM_SERVICE, "namespace": shipping},
        "spec": {
            "platformRef": {"name": platform["metadata"]["name"]},
            "image": {"repository": "fabrikam.azurecr.io/shipping/analytics", "digest": DIGEST},
            "identity": {"azure": False},
            "autoscaling": {"minReplicas": 3, "maxReplicas": 6},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    cluster.kubectl("wait", "--for=create", f"namespace/{shipping}", "--timeout=60s")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(team_service))
    yield platform
    cluster.kubectl("delete", "deliveryplatform", platform["metadata"]["name"], "--wait=false", check=False)


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _minimums(cluster: Any, platform: dict[str, Any]) -> dict[str, int]:
    """Each autoscaler of the platform's services → its minReplicas."""
    selector = f"app.kubernetes.io/instance={platform['metadata']['name']}"
    items = _get(cluster, "hpa", "-A", "-l", selector)["items"]
    return {i["metadata"]["name"]: i["spec"]["minReplicas"] for i in items}


def _own_minimums(cluster: Any, platform: dict[str, Any]) -> dict[str, int]:
    """Each DroneService of the platform → the minReplicas of its own spec."""
    return {
        s["metadata"]["name"]: s["spec"].get("autoscaling", {}).get("minReplicas", 2)
        for s in _get(cluster, "droneservices", "-A")["items"]
        if s["spec"]["platformRef"]["name"] == platform["metadata"]["name"]
    }


def _templates(cluster: Any, platform: dict[str, Any]) -> dict[str, Any]:
    selector = f"app.kubernetes.io/instance={platform['metadata']['name']}"
    return {
        d["metadata"]["name"]: d["spec"]["template"] for d in _get(cluster, "deploy", "-A", "-l", selector)["items"]
    }


def _patch_window(cluster: Any, platform: dict[str, Any], window: dict[str, Any]) -> None:
    patch = {"spec": {"cost": {"offHours": window}}}
    cluster.kubectl("patch", "deliveryplatform", platform["metadata"]["name"], "--type=merge", "-p", json.dumps(patch))


def _platform_events(cluster: Any, platform: dict[str, Any]) -> list[str]:
    described = cluster.kubectl("describe", "deliveryplatform", platform["metadata"]["name"]).stdout
    return [line for line in described.split("Events:", 1)[-1].splitlines() if "Hours" in line]


def test_inside_the_window_every_autoscaler_runs_at_the_off_hours_minimum(
    cluster: Any, platform: dict[str, Any], eventually: Any
) -> None:
    def everyone_at_one() -> bool:
        own = _own_minimums(cluster, platform)
        return len(own) == 9 and _minimums(cluster, platform) == dict.fromkeys(own, 1)

    eventually(everyone_at_one, timeout=90, what="the eight bundled and the team's service, every HPA at 1")
    shipping = next(t["namespace"] for t in platform["spec"]["teams"] if t["name"] == "shipping")
    hpa = _get(cluster, "hpa", TEAM_SERVICE, "-n", shipping)
    assert "3 otherwise" in hpa["metadata"]["annotations"]["dronedelivery.fabrikam.io/off-hours"]
    assert hpa["spec"]["maxReplicas"] == 6
    pdb = _get(cluster, "pdb", TEAM_SERVICE, "-n", shipping)["spec"]
    assert pdb["maxUnavailable"] == 1  # the one pod left can still be evicted by a drain
    lines = eventually(lambda: _platform_events(cluster, platform), timeout=30, what="the OffHours event")
    assert any("OffHours" in line and "minimum is 1" in line for line in lines), lines


def test_a_window_moved_away_restores_the_minimums_within_seconds_without_rolling_the_pods(
    cluster: Any, platform: dict[str, Any], eventually: Any
) -> None:
    templates = _templates(cluster, platform)
    _patch_window(cluster, platform, _window(datetime.now(UTC) + timedelta(hours=2)))
    started = time.monotonic()
    eventually(
        lambda: _minimums(cluster, platform) == _own_minimums(cluster, platform),
        timeout=PROPAGATION_SECONDS,
        what="every HPA back at its own minimum",
    )
    print(f"minimums restored in {time.monotonic() - started:.1f}s")
    assert _templates(cluster, platform) == templates
    shipping = next(t["namespace"] for t in platform["spec"]["teams"] if t["name"] == "shipping")
    annotations = _get(cluster, "hpa", TEAM_SERVICE, "-n", shipping)["metadata"].get("annotations") or {}
    assert "dronedelivery.fabrikam.io/off-hours" not in annotations
    lines = eventually(
        lambda: [line for line in _platform_events(cluster, platform) if "WorkingHours" in line],
        timeout=30,
        what="the WorkingHours event",
    )
    assert "back at their own minimums" in lines[-1]


def test_the_window_opens_by_the_clock_not_at_the_next_resync(
    cluster: Any, platform: dict[str, Any], eventually: Any
) -> None:
    now = datetime.now(UTC)
    opens = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)  # the next minute at least 20 s away
    _patch_window(cluster, platform, _window(opens))
    time.sleep(5)
    assert _minimums(cluster, platform) == _own_minimums(cluster, platform), "changed before the window opened"
    wait = (opens - datetime.now(UTC)).total_seconds()
    assert wait > 0
    time.sleep(wait)
    started = time.monotonic()
    everyone_at_one = dict.fromkeys(_own_minimums(cluster, platform), 1)
    eventually(
        lambda: _minimums(cluster, platform) == everyone_at_one,
        timeout=PROPAGATION_SECONDS,
        what="every HPA at minReplicas 1 once the window opened",
    )
    print(f"window opened: minimums lowered in {time.monotonic() - started:.1f}s")


def test_the_platform_goes_with_its_daemon(cluster: Any, platform: dict[str, Any]) -> None:
    name = platform["metadata"]["name"]
    result = cluster.kubectl("delete", "deliveryplatform", name, "--timeout=60s", check=False)
    assert result.returncode == 0, result.stderr

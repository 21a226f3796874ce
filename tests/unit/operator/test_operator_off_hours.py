"""Off-hours (spec.cost.offHours): when a platform is in them, when that changes, and what changes with it.

Europe/Berlin in 2025: the clocks go forward on Sunday 30 March (02:00 CET -> 03:00 CEST, at 01:00 UTC) and back on
Sunday 26 October (03:00 CEST -> 02:00 CET, at 01:00 UTC). Instants below are UTC; comments give the local time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.platform import OffHours
from fabrikam.operator.render import ServiceFacts, bundled_services, render_drone_service, validate_platform
from fabrikam.operator.render.off_hours import UnknownTimeZone, active, is_off_hours, next_change

BERLIN = {"start": "19:00", "end": "07:00", "timeZone": "Europe/Berlin"}  # Mon-Fri, weekends off: the defaults
UTC_NOON = {"start": "12:00", "end": "13:00", "timeZone": "UTC"}
EVERY_DAY = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _spec(**fields: Any) -> OffHours:
    return OffHours.model_validate(fields)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


CASES = [
    # (window, now, off-hours?, next change) — the table of the behaviour.
    pytest.param(BERLIN, "2025-03-25T17:59Z", False, "2025-03-25T18:00Z", id="Tue 18:59 CET: before the window"),
    pytest.param(BERLIN, "2025-03-25T18:00Z", True, "2025-03-26T06:00Z", id="Tue 19:00 CET: opens, ends Wed 07:00"),
    pytest.param(BERLIN, "2025-03-26T05:59Z", True, "2025-03-26T06:00Z", id="Wed 06:59 CET: past midnight, still off"),
    pytest.param(BERLIN, "2025-03-26T06:00Z", False, "2025-03-26T18:00Z", id="Wed 07:00 CET: working hours again"),
    pytest.param(
        BERLIN, "2025-03-28T18:00Z", True, "2025-03-31T05:00Z", id="Fri 19:00 CET: off to Mon 07:00 CEST (spring)"
    ),
    pytest.param(BERLIN, "2025-03-29T11:00Z", True, "2025-03-31T05:00Z", id="Sat 12:00 CET: weekend"),
    pytest.param(BERLIN, "2025-03-30T22:30Z", True, "2025-03-31T05:00Z", id="Mon 00:30 CEST: weekend into Monday"),
    pytest.param(BERLIN, "2025-03-31T05:00Z", False, "2025-03-31T17:00Z", id="Mon 07:00 CEST: ends, 19:00 CEST next"),
    pytest.param(
        BERLIN, "2025-10-24T17:00Z", True, "2025-10-27T06:00Z", id="Fri 19:00 CEST: off to Mon 07:00 CET (autumn)"
    ),
    pytest.param(
        {**BERLIN, "days": ["Sat"], "weekends": False},
        "2025-03-29T18:00Z",
        True,
        "2025-03-30T05:00Z",
        id="Sat 19:00 CET to Sun 07:00 CEST: 11 hours on the spring-forward night",
    ),
    pytest.param(
        {**BERLIN, "days": ["Sat"], "weekends": False},
        "2025-10-25T17:00Z",
        True,
        "2025-10-26T06:00Z",
        id="Sat 19:00 CEST to Sun 07:00 CET: 13 hours on the fall-back night",
    ),
    pytest.param(
        {"start": "02:30", "end": "06:00", "days": ["Sun"], "weekends": False, "timeZone": "Europe/Berlin"},
        "2025-03-30T00:59Z",
        False,
        "2025-03-30T01:00Z",
        id="02:30 never happens in spring: the window opens when the clocks jump to 03:00",
    ),
    pytest.param(
        {"start": "02:30", "end": "06:00", "days": ["Sun"], "weekends": False, "timeZone": "Europe/Berlin"},
        "2025-03-30T01:00Z",
        True,
        "2025-03-30T04:00Z",
        id="open from the jump to 06:00 CEST",
    ),
    pytest.param(
        {"start": "02:30", "end": "05:00", "days": ["Sun"], "weekends": False, "timeZone": "Europe/Berlin"},
        "2025-10-26T00:29Z",
        False,
        "2025-10-26T00:30Z",
        id="02:30 happens twice in autumn: the window opens at the first (CEST)",
    ),
    pytest.param(
        {"start": "02:30", "end": "05:00", "days": ["Sun"], "weekends": False, "timeZone": "Europe/Berlin"},
        "2025-10-26T01:30Z",
        True,
        "2025-10-26T04:00Z",
        id="the second 02:30 (CET) is inside the window, which ends 05:00 CET",
    ),
    pytest.param(
        {"start": "02:10", "end": "02:50", "days": ["Sun"], "weekends": False, "timeZone": "Europe/Berlin"},
        "2025-03-30T00:30Z",
        False,
        "2025-04-06T00:10Z",
        id="a window inside the skipped hour does not happen that day",
    ),
    pytest.param(
        {"start": "00:00", "end": "06:00", "days": ["Sun"], "weekends": False, "timeZone": "America/Havana"},
        "2025-03-09T04:59Z",
        False,
        "2025-03-09T05:00Z",
        id="Havana skips midnight: the window opens at 01:00 CDT",
    ),
    pytest.param(
        {**BERLIN, "timeZone": "America/New_York"},
        "2025-03-08T00:00Z",
        True,
        "2025-03-10T11:00Z",
        id="New York: Fri 19:00 EST to Mon 07:00 EDT",
    ),
    pytest.param(
        {**BERLIN, "weekends": False},
        "2025-03-29T11:00Z",
        False,
        "2025-03-31T17:00Z",
        id="weekends false: Saturday after the Friday window is working hours",
    ),
    pytest.param(
        {**BERLIN, "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]},
        "2025-03-29T11:00Z",
        False,
        "2025-03-29T18:00Z",
        id="a weekend day listed in days follows the window",
    ),
    pytest.param(
        {**BERLIN, "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]},
        "2025-03-30T12:00Z",
        True,
        "2025-03-31T05:00Z",
        id="the unlisted Sunday stays off all day, into Monday morning",
    ),
    pytest.param(UTC_NOON, "2025-03-29T23:59Z", True, "2025-03-31T00:00Z", id="a daytime window: weekend all day"),
    pytest.param(
        UTC_NOON, "2025-03-31T00:00Z", False, "2025-03-31T12:00Z", id="a daytime window: weekend ends at midnight"
    ),
    pytest.param(
        {"start": "09:00", "end": "09:00", "days": ["Wed"], "weekends": False, "timeZone": "UTC"},
        "2025-03-26T08:59Z",
        False,
        "2025-03-26T09:00Z",
        id="start == end: opens at start",
    ),
    pytest.param(
        {"start": "09:00", "end": "09:00", "days": ["Wed"], "weekends": False, "timeZone": "UTC"},
        "2025-03-27T08:59Z",
        True,
        "2025-03-27T09:00Z",
        id="start == end: a whole day, to start the next day",
    ),
    pytest.param(
        {"start": "00:00", "end": "00:00", "days": EVERY_DAY, "timeZone": "UTC"},
        "2025-03-26T12:00Z",
        True,
        None,
        id="start == end on every day: off around the clock, no change ever",
    ),
    pytest.param(
        {"start": "19:00", "end": "19:00", "timeZone": "Europe/Berlin"},
        "2025-03-30T01:30Z",
        True,
        None,
        id="start == end on weekdays, weekends off: around the clock across DST",
    ),
]


@pytest.mark.parametrize(("window", "now", "off", "change"), CASES)
def test_off_hours_and_their_next_change(window: dict[str, Any], now: str, off: bool, change: str | None) -> None:
    spec = _spec(**window)
    assert is_off_hours(spec, _at(now)) is off
    assert next_change(spec, _at(now)) == (None if change is None else _at(change))


@pytest.mark.parametrize(
    "window",
    [
        BERLIN,
        {**BERLIN, "weekends": False, "days": ["Sat", "Sun"]},
        {"start": "02:30", "end": "02:15", "days": ["Sat", "Sun"], "timeZone": "Europe/Berlin"},
        {"start": "01:00", "end": "01:00", "days": ["Tue", "Sun"], "weekends": False, "timeZone": "America/Havana"},
    ],
)
@pytest.mark.parametrize("week", ["2025-03-24T00:00Z", "2025-10-20T00:00Z"])
def test_the_answer_holds_until_the_next_change_and_flips_there(window: dict[str, Any], week: str) -> None:
    """Every 20 minutes over a week with a DST change: the answer is the same up to next_change, and differs
    there."""
    spec = _spec(**window)
    for step in range(0, 7 * 24 * 60, 20):
        now = _at(week) + timedelta(minutes=step)
        off, change = is_off_hours(spec, now), next_change(spec, now)
        assert change is not None
        assert change > now
        assert is_off_hours(spec, change) is not off, (now, change)
        assert is_off_hours(spec, change - timedelta(microseconds=1)) is off, (now, change)
        assert is_off_hours(spec, now + (change - now) / 2) is off, (now, change)


def test_an_unknown_time_zone_is_reported_and_keeps_full_capacity(platform_doc: dict[str, Any]) -> None:
    spec = _spec(**{**BERLIN, "timeZone": "Europe/Atlantis"})
    with pytest.raises(UnknownTimeZone, match="Europe/Atlantis"):
        is_off_hours(spec, _at("2025-03-25T20:00Z"))
    assert active(spec, _at("2025-03-25T20:00Z")) is False
    assert active(None, _at("2025-03-25T20:00Z")) is False
    platform = _staging(platform_doc, {**BERLIN, "timeZone": "Europe/Atlantis"})
    (problem,) = [p for p in validate_platform(platform) if p.reason == "UnknownTimeZone"]
    assert problem.field == "spec.cost.offHours.timeZone"
    assert not problem.fatal


def test_the_instant_must_say_its_time_zone() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_off_hours(_spec(**BERLIN), datetime(2025, 3, 25, 20, 0))


def _staging(platform_doc: dict[str, Any], window: dict[str, Any]) -> DeliveryPlatform:
    spec = {**platform_doc["spec"], "profile": "staging", "cost": {"offHours": window}}
    return DeliveryPlatform.model_validate({**platform_doc, "spec": spec})


def _rendered(svc: DroneService, platform: DeliveryPlatform, *, off_hours: bool) -> dict[str, dict[str, Any]]:
    peers = [*bundled_services(platform), svc]
    objects = render_drone_service(svc, platform=platform, peers=peers, facts=ServiceFacts(off_hours=off_hours))
    return {o["kind"]: o for o in objects}


def test_off_hours_lower_every_autoscalers_minimum(platform_doc: dict[str, Any], team_service: DroneService) -> None:
    platform = _staging(platform_doc, {**BERLIN, "minReplicas": 1})
    for svc in [*bundled_services(platform), team_service]:
        hpa = _rendered(svc, platform, off_hours=True)["HorizontalPodAutoscaler"]
        assert hpa["spec"]["minReplicas"] == 1, svc.name
        assert hpa["spec"]["maxReplicas"] == svc.spec.autoscaling.max_replicas
        assert "spec.cost.offHours" in hpa["metadata"]["annotations"]["dronedelivery.fabrikam.io/off-hours"]
        working = _rendered(svc, platform, off_hours=False)["HorizontalPodAutoscaler"]
        assert working["spec"]["minReplicas"] == svc.spec.autoscaling.min_replicas >= 2
        assert "annotations" not in working["metadata"]


def test_off_hours_never_raise_a_minimum(platform_doc: dict[str, Any], team_service: DroneService) -> None:
    platform = _staging(platform_doc, {**BERLIN, "minReplicas": 50})
    assert _rendered(team_service, platform, off_hours=True) == _rendered(team_service, platform, off_hours=False)


def test_without_off_hours_in_the_spec_the_fact_changes_nothing(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    assert _rendered(team_service, platform, off_hours=True) == _rendered(team_service, platform, off_hours=False)


def test_only_the_autoscaler_changes_so_the_pods_do_not_roll(
    platform_doc: dict[str, Any], team_service: DroneService
) -> None:
    platform = _staging(platform_doc, BERLIN)
    for svc in [*bundled_services(platform), team_service]:
        off, working = _rendered(svc, platform, off_hours=True), _rendered(svc, platform, off_hours=False)
        assert {kind for kind in off if off[kind] != working[kind]} == {"HorizontalPodAutoscaler"}, svc.name
        # The Deployment leaves `replicas` to the HPA; a new one starts at the service's own minimum.
        assert "replicas" not in off["Deployment"]["spec"]


def test_the_disruption_budget_lets_a_drain_evict_the_one_pod_left(
    platform_doc: dict[str, Any], team_service: DroneService
) -> None:
    platform = _staging(platform_doc, {**BERLIN, "minReplicas": 1})
    pdb = _rendered(team_service, platform, off_hours=True)["PodDisruptionBudget"]["spec"]
    assert "minAvailable" not in pdb
    assert pdb["maxUnavailable"] >= 1  # one healthy pod of one: one disruption allowed
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"

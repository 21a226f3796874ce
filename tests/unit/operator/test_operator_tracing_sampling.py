"""Given the platform's tracing sampling ratio, every service gets it as the standard OpenTelemetry variables; a
ratio outside 0..1 is refused, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.crd import KINDS, custom_resource_definition
from fabrikam.operator.handlers.parsing import invalid_spec
from fabrikam.operator.render import bundled_services, render_drone_service

FIELD = "spec.observability.tracing.samplingRatio"


def _with_ratio(platform_doc: dict[str, Any], ratio: Any) -> dict[str, Any]:
    observability = platform_doc["spec"].setdefault("observability", {})
    observability["tracing"] = {"samplingRatio": ratio}
    return platform_doc


def _environments(platform: DeliveryPlatform, *extra: DroneService) -> dict[str, dict[str, str]]:
    """Each service's ConfigMap data, as its pods get it."""
    services = [*bundled_services(platform), *extra]
    found = {}
    for svc in services:
        objects = render_drone_service(svc, platform=platform, peers=services)
        found[svc.name] = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    return found


def test_every_service_keeps_one_trace_in_ten_unless_the_platform_says_otherwise(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    environments = _environments(platform, team_service)
    assert len(environments) == 9  # the eight bundled services and the team's own
    for name, env in environments.items():
        sampling = {key: env[key] for key in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")}
        assert sampling == {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, name


@pytest.mark.parametrize(("ratio", "rendered"), [(0, "0"), (0.25, "0.25"), (1, "1"), (0.001, "0.001")])
def test_the_ratio_set_is_the_ratio_every_service_gets(
    platform_doc: dict[str, Any], team_service: DroneService, ratio: float, rendered: str
) -> None:
    platform = DeliveryPlatform.model_validate(_with_ratio(platform_doc, ratio))
    assert {env["OTEL_TRACES_SAMPLER_ARG"] for env in _environments(platform, team_service).values()} == {rendered}


@pytest.mark.parametrize(("ratio", "words"), [(1.5, "less than or equal to 1"), (-0.1, "greater than or equal to 0")])
def test_a_ratio_outside_0_to_1_is_refused_naming_the_field(
    platform_doc: dict[str, Any], ratio: float, words: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        DeliveryPlatform.model_validate(_with_ratio(platform_doc, ratio))
    problem = invalid_spec(raised.value)  # what the Degraded condition says
    assert problem.reason == "InvalidSpec"
    assert problem.message.startswith(f"{FIELD}: ")
    assert words in problem.message


def test_a_ratio_that_is_not_a_number_is_refused_naming_the_field(platform_doc: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        DeliveryPlatform.model_validate(_with_ratio(platform_doc, "half"))
    assert invalid_spec(raised.value).message.startswith(f"{FIELD}: ")


def test_the_apiserver_refuses_a_ratio_outside_0_to_1_and_defaults_it() -> None:
    kind = next(k for k in KINDS if k.plural == "deliveryplatforms")
    schema = custom_resource_definition(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    observability = schema["properties"]["spec"]["properties"]["observability"]
    ratio = observability["properties"]["tracing"]["properties"]["samplingRatio"]
    assert (ratio["type"], ratio["minimum"], ratio["maximum"], ratio["default"]) == ("number", 0, 1, 0.1)
    assert observability["default"]["tracing"] == {"samplingRatio": 0.1}

"""One shape for what went wrong: a spec that does not parse, a spec check, a refusal of the API server and a stalled
rollout each become a `Problem` (reason, message), which the conditions say as they are."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fabrikam.operator.api import DroneService, Problem
from fabrikam.operator.apply.applier import ApplyError
from fabrikam.operator.apply.client import ApiError
from fabrikam.operator.handlers import conditions
from fabrikam.operator.handlers.parsing import invalid_spec, parse
from fabrikam.operator.render import SpecProblem

SAMPLE = Path(__file__).resolve().parents[3] / "config" / "samples" / "team-service.yaml"


def test_a_spec_that_does_not_parse_is_invalid_at_its_first_field() -> None:
    doc: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    doc["metadata"]["uid"] = "problems-invalid-spec"
    doc["spec"]["autoscaling"] = {"minReplicas": "many"}
    with pytest.raises(ValidationError) as error:
        parse(DroneService, doc)

    problem = invalid_spec(error.value)

    assert problem.reason == "InvalidSpec"
    assert problem.message.startswith("spec.autoscaling.minReplicas: ")


def test_a_spec_check_names_the_field_to_fix_in_its_message() -> None:
    found = SpecProblem("QueueNotGranted", "spec.uses[1].name", "not granted send on queue 'x'")
    assert found.problem == Problem(
        "QueueNotGranted", "spec.uses[1].name: not granted send on queue 'x' (QueueNotGranted)"
    )


def test_a_refused_object_is_a_problem_naming_it() -> None:
    refused = ApplyError(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "t"}},
        ApiError(403, "Forbidden", '{"message": "deployments.apps is forbidden"}'),
    )
    assert refused.problem == Problem("Forbidden", "Deployment t/x: 403 deployments.apps is forbidden")


def test_conditions_say_the_problem_as_it_is() -> None:
    refused = Problem("ProgressDeadlineExceeded", "ReplicaSet x has timed out progressing.")
    status = {
        "conditions": [{"type": "Progressing", "status": "False", "reason": refused.reason, "message": refused.message}]
    }
    assert conditions.rollout_failure(status) == refused
    verdict = conditions.Verdict.of("Degraded", True, refused)
    assert (verdict.reason, verdict.message) == (refused.reason, refused.message)

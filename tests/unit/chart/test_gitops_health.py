"""The Argo CD health check documented in docs/gitops.md, run in Lua 5.1 (Argo CD's gopher-lua dialect) against
statuses the operator's own condition builders produce; and, where the kstatus checker is built, the same statuses
through kstatus itself: Argo CD and Flux must say the same of every one."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lupa import lua51

from fabrikam.devcluster import toolchain, versions
from fabrikam.operator.api import Problem
from fabrikam.operator.handlers.conditions import (
    merge,
    not_reconciled_conditions,
    platform_conditions,
    service_conditions,
)

ROOT = Path(__file__).resolve().parents[3]
KEY = "resource.customizations.health.dronedelivery.fabrikam.io_DeliveryPlatform: |\n"
KSTATUS = toolchain.binary_path(versions.KSTATUS_BINARY.name, versions.KSTATUS_BINARY.version)


def _script() -> str:
    document = (ROOT / "docs" / "gitops.md").read_text()
    body = document[document.index(KEY) + len(KEY) :]
    lines = []
    for line in body.splitlines():
        if not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


LUA = lua51.LuaRuntime(unpack_returned_tuples=True)
HEALTH = LUA.eval("function(obj)\n" + _script() + "\nend")


def _health(obj: dict[str, Any]) -> tuple[str, str]:
    result = HEALTH(LUA.table_from(obj, recursive=True))
    return str(result["status"]), str(result["message"])


def _service(generation: int, *, observed: int, waiting: str | None = None, **verdicts: Any) -> dict[str, Any]:
    found, _, _ = service_conditions(waiting=waiting, **verdicts)
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": "x", "namespace": "t", "generation": generation},
        "status": {"observedGeneration": observed, "conditions": merge(None, found, observed)},
    }


def _platform(**outcome: Any) -> dict[str, Any]:
    found = platform_conditions(
        problems=outcome.get("problems", []),
        blocking=outcome.get("blocking", False),
        waiting=outcome.get("waiting"),
        ready=outcome.get("ready", 8),
        total=8,
        degraded_services=[],
        stalled_services=outcome.get("stalled_services", []),
    )
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "metadata": {"name": "fabrikam", "generation": 1},
        "status": {"observedGeneration": 1, "conditions": merge(None, found, 1)},
    }


def _deployment(ready: int, desired: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": 1,
            "replicas": desired,
            "readyReplicas": ready,
            "updatedReplicas": desired,
            **status,
        },
    }


_DEADLINE = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]
_REFUSED = Problem("Forbidden", "Deployment t/x: 403 forbidden")
_AZURE = Problem("AzureError", "Identity x: InvalidResourceName")

# (statuses the operator writes, what Argo CD shows): every case is also given to kstatus below.
CASES = {
    "available": (_service(1, observed=1, problems=[], blocking=False, deployment=_deployment(2)), "Healthy"),
    "rolling": (_service(1, observed=1, problems=[], blocking=False, deployment=_deployment(1)), "Progressing"),
    "creating": (_service(1, observed=1, problems=[], blocking=False, deployment=None), "Progressing"),
    "refused": (_service(1, observed=1, problems=[_REFUSED], blocking=True, deployment=None), "Degraded"),
    "deadline exceeded": (
        _service(1, observed=1, problems=[], blocking=False, deployment=_deployment(1, conditions=_DEADLINE)),
        "Degraded",
    ),
    "azure provisioning": (
        _service(1, observed=1, problems=[], blocking=False, deployment=_deployment(2), waiting="identity"),
        "Progressing",
    ),
    "azure refused": (
        _service(1, observed=1, problems=[_AZURE], blocking=False, deployment=_deployment(2)),
        "Degraded",
    ),
    "warning": (
        _service(
            1,
            observed=1,
            problems=[Problem("KeyVaultNotConfigured", "no Key Vault")],
            blocking=False,
            deployment=_deployment(2),
        ),
        "Healthy",
    ),
    "new generation": (_service(2, observed=1, problems=[], blocking=False, deployment=_deployment(2)), "Progressing"),
    "platform ready": (_platform(), "Healthy"),
    "platform rolling": (_platform(ready=7), "Progressing"),
    "platform with a stalled service": (
        _platform(ready=7, stalled_services=["t/x: PlatformNotFound"]),
        "Degraded",
    ),
    "platform not reconciled yet": (
        {
            "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
            "kind": "DeliveryPlatform",
            "metadata": {"name": "fabrikam", "generation": 1},
            "status": {"conditions": merge(None, not_reconciled_conditions("not yet"), 1)},
        },
        "Progressing",
    ),
}
KSTATUS_OF = {"Healthy": "Current", "Progressing": "InProgress", "Degraded": "Failed"}


def test_the_documented_script_is_found() -> None:
    assert re.search(r"return hs\s*$", _script())


def test_no_status_yet_is_progressing() -> None:
    assert _health({"metadata": {"generation": 1}}) == ("Progressing", "Waiting for the operator")


@pytest.mark.parametrize("case", CASES)
def test_argo_cd_reads_what_the_operator_writes(case: str) -> None:
    obj, expected = CASES[case]
    assert _health(obj)[0] == expected


def test_a_rollout_under_way_says_how_far_it_is() -> None:
    assert _health(CASES["rolling"][0]) == ("Progressing", "RollingOut: 1/2 pods ready, 2 updated")


def test_a_refused_object_is_degraded_with_the_operators_reason() -> None:
    assert _health(CASES["refused"][0]) == ("Degraded", "Forbidden: Deployment t/x: 403 forbidden")


def test_a_warning_keeps_a_ready_service_healthy_and_says_so() -> None:
    status, message = _health(CASES["warning"][0])
    assert status == "Healthy"
    assert "KeyVaultNotConfigured" in message


@pytest.mark.parametrize("stale", ["status", "condition"])
def test_a_ready_left_from_an_older_generation_is_not_healthy(stale: str) -> None:
    obj = _service(1, observed=1, problems=[], blocking=False, deployment=_deployment(ready=2))
    obj["metadata"]["generation"] = 2
    if stale == "condition":
        obj["status"]["observedGeneration"] = 2
    status, _ = _health(obj)
    assert status == "Progressing"


@pytest.mark.skipif(not KSTATUS.exists(), reason=f"the kstatus checker is not built yet ({KSTATUS})")
def test_kstatus_says_what_argo_cd_says() -> None:
    """One run of the checker over every case (a `kind: List`), compared by name with Argo CD's verdict."""
    items = [{**obj, "metadata": {**obj["metadata"], "name": f"case-{i}"}} for i, (obj, _) in enumerate(CASES.values())]
    printed = subprocess.run(
        [str(KSTATUS)], input=json.dumps({"kind": "List", "items": items}), capture_output=True, text=True, check=True
    ).stdout
    computed = {line["name"]: line["status"] for line in map(json.loads, printed.splitlines())}
    assert {case: computed[f"case-{i}"] for i, case in enumerate(CASES)} == {
        case: KSTATUS_OF[expected] for case, (_, expected) in CASES.items()
    }

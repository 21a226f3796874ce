"""The Argo CD health check documented in docs/gitops.md, run in Lua 5.1 (Argo CD's gopher-lua dialect) against
statuses the operator's own condition builders produce."""

import re
from pathlib import Path
from typing import Any

import pytest
from lupa import lua51

from fabrikam.operator.handlers.conditions import merge, service_verdicts

ROOT = Path(__file__).resolve().parents[3]
KEY = "resource.customizations.health.dronedelivery.fabrikam.io_DeliveryPlatform: |\n"


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


def _service(generation: int, *, observed: int, **verdicts: Any) -> dict[str, Any]:
    found, _, _ = service_verdicts(**verdicts)
    return {
        "metadata": {"generation": generation},
        "status": {"observedGeneration": observed, "conditions": merge(None, found, observed)},
    }


def _deployment(ready: int, desired: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "spec": {"replicas": desired},
        "status": {"observedGeneration": 1, "replicas": desired, "readyReplicas": ready, "updatedReplicas": desired},
    }


def test_the_documented_script_is_found() -> None:
    assert re.search(r"return hs\s*$", _script())


def test_no_status_yet_is_progressing() -> None:
    assert _health({"metadata": {"generation": 1}}) == ("Progressing", "Waiting for the operator")


def test_an_available_service_is_healthy() -> None:
    status, _ = _health(_service(1, observed=1, reasons=[], blocking=False, deployment=_deployment(ready=2)))
    assert status == "Healthy"


def test_a_rollout_under_way_is_progressing() -> None:
    status, message = _health(_service(1, observed=1, reasons=[], blocking=False, deployment=_deployment(ready=1)))
    assert status == "Progressing"
    assert "1/2 pods ready" in message


def test_a_refused_object_is_degraded_with_the_operators_reason() -> None:
    reasons = [("Forbidden", "Deployment t/x: 403 forbidden")]
    status, message = _health(_service(1, observed=1, reasons=reasons, blocking=True, deployment=None))
    assert status == "Degraded"
    assert message == "Forbidden: Deployment t/x: 403 forbidden"


def test_a_warning_keeps_a_ready_service_healthy_and_says_so() -> None:
    reasons = [("KeyVaultNotConfigured", "no Key Vault")]
    obj = _service(1, observed=1, reasons=reasons, blocking=False, deployment=_deployment(ready=2))
    status, message = _health(obj)
    assert status == "Healthy"
    assert "KeyVaultNotConfigured" in message


@pytest.mark.parametrize("stale", ["status", "condition"])
def test_a_ready_left_from_an_older_generation_is_not_healthy(stale: str) -> None:
    obj = _service(1, observed=1, reasons=[], blocking=False, deployment=_deployment(ready=2))
    obj["metadata"]["generation"] = 2
    if stale == "condition":
        obj["status"]["observedGeneration"] = 2
    status, _ = _health(obj)
    assert status == "Progressing"

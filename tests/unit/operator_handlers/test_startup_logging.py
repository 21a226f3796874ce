"""The operator's log at INFO (kopf's level) carries no azure-core request or response lines: they said nothing the
conditions, Events and metrics do not, thousands of times per re-check."""

import logging
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from azure.core.pipeline import PipelineContext, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HttpLoggingPolicy
from azure.core.rest import HttpRequest
from kopf._cogs.clients import watching

from fabrikam.operator.handlers import startup
from fabrikam.operator.handlers.runtime import RUNTIME

URL = "https://management.azure.com/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg?api-version=1"


class _Response:
    """What HttpLoggingPolicy reads of a response."""

    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012


def _one_call_through_the_sdk_logging_policy() -> None:
    request = PipelineRequest(HttpRequest("GET", URL), PipelineContext(None))
    policy = HttpLoggingPolicy()
    policy.on_request(request)
    policy.on_response(request, PipelineResponse(request.http_request, _Response(), request.context))  # type: ignore[arg-type]


@pytest.fixture
def operator_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The root logger at INFO as `kopf.configure` sets it; the Azure loggers' levels restored afterwards."""
    levels = {name: logging.getLogger(name).level for name in ("", *startup.AZURE_SDK_LOGGERS)}
    logging.getLogger().setLevel(logging.INFO)
    monkeypatch.setattr(RUNTIME, "settings", RUNTIME.settings.model_copy(update={"metrics_port": 0}))
    monkeypatch.setattr(watching, "continuous_watch", watching.continuous_watch)  # start-up wraps it (discovery.py)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _azure_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("azure")]


async def test_azure_core_requests_and_responses_stay_out_of_the_operators_log(
    operator_logging: None, caplog: Any
) -> None:
    _one_call_through_the_sdk_logging_policy()
    before = _azure_lines(caplog)
    caplog.clear()

    await startup.configure(settings=kopf.OperatorSettings(), logger=logging.getLogger("test"))
    _one_call_through_the_sdk_logging_policy()

    # Without the operator's start-up, the SDK's policy writes the request and the response at INFO.
    assert any(line.startswith("Request URL:") for line in before), before
    assert any(line.startswith("Response status:") for line in before), before
    assert _azure_lines(caplog) == []
    assert logging.getLogger("azure.core.pipeline.policies.http_logging_policy").isEnabledFor(logging.WARNING)

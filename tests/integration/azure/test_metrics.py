"""Azure calls are visible to Prometheus: logical operations by result and latency, and every HTTP response,
including the throttled attempts the SDK retried on its own."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from fabrikam.operator.azure import reconcile_platform


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_operations_results_latency_and_throttled_responses_are_counted(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    put = {"operation": "ServiceBusNamespace.put"}
    before = {
        "ok": _value("fabrikam_operator_azure_operations_total", **put, result="success"),
        "not_found": _value("fabrikam_operator_azure_operations_total", operation="RedisCache.get", result="not_found"),
        "taken": _value("fabrikam_operator_azure_operations_total", operation="RedisCache.put", result="client_error"),
        "latency": _value("fabrikam_operator_azure_operation_duration_seconds_count", **put),
        "429": _value("fabrikam_operator_azure_http_responses_total", method="PUT", status="429"),
    }
    fake_arm.inject("PUT", "/Microsoft.ServiceBus/namespaces/", 429, code="TooManyRequests", retry_after=0)
    fake_arm.inject("PUT", "/Microsoft.Cache/redis/", 409, code="NameNotAvailable", times=None)

    await reconcile_platform(make_platform(), azure)

    assert _value("fabrikam_operator_azure_operations_total", **put, result="success") == before["ok"] + 1
    assert (
        _value("fabrikam_operator_azure_operations_total", operation="RedisCache.get", result="not_found")
        == before["not_found"] + 1
    )
    assert (
        _value("fabrikam_operator_azure_operations_total", operation="RedisCache.put", result="client_error")
        == before["taken"] + 1
    )
    assert _value("fabrikam_operator_azure_operation_duration_seconds_count", **put) == before["latency"] + 1
    assert _value("fabrikam_operator_azure_http_responses_total", method="PUT", status="429") == before["429"] + 1

"""Log lines are JSON objects carrying the service and the correlation id of the work in progress."""

import json
import logging

from fabrikam.workloads.kit import correlation
from fabrikam.workloads.kit.logs import JsonFormatter


def test_a_log_line_is_json_with_correlation_id_and_fields() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "handler failed", None, None)
    record.fields = {"queue": "q1"}
    token = correlation.current.set("abc123")
    try:
        line = json.loads(JsonFormatter("workflow").format(record))
    finally:
        correlation.current.reset(token)
    assert line["service"] == "workflow"
    assert line["correlationId"] == "abc123"
    assert line["level"] == "warning"
    assert line["message"] == "handler failed"
    assert line["queue"] == "q1"

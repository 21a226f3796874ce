"""The correlation id of the work in progress, carried by HTTP headers, message headers and log lines."""

import uuid
from contextvars import ContextVar

HEADER = "x-correlation-id"

current: ContextVar[str] = ContextVar("correlation_id", default="")


def new_id() -> str:
    """A fresh id for work that arrived without one."""
    return uuid.uuid4().hex

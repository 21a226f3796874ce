"""Azure failures as values: Azure's error code and message plus whether retrying later can help.

By the time an exception reaches here azure-core's retry policy has already retried throttling (honouring
Retry-After), 5xx and network errors with backoff; what is left either needs time (report and requeue) or needs a
person (a name taken, a quota, missing permissions: Degraded with Azure's own words).
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

# 4xx codes ARM uses for conditions that clear by themselves.
TRANSIENT_CODES = frozenset(
    {
        "AnotherOperationInProgress",
        "Conflict",
        "OperationNotAllowed",
        "ParentResourceNotFound",
        "PrincipalNotFound",
        "ResourceGroupBeingDeleted",
        "RetryableError",
        "TooManyRequests",
    }
)


@dataclass(frozen=True)
class AzureFailure:
    code: str
    message: str
    retriable: bool
    status: int | None = None

    @property
    def category(self) -> str:
        """Low-cardinality label for metrics."""
        if self.status is None:
            return {"NetworkError": "network_error", "AuthenticationFailed": "auth_error"}.get(self.code, "failed")
        if self.status in (401, 403):
            return "auth_error"
        if self.status == 429:
            return "throttled"
        return "server_error" if self.status >= 500 else "client_error"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def classify(error: Exception) -> AzureFailure:
    """Turns whatever the SDK or credential raised into a failure value."""
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        status = int(error.status_code)
        odata = error.error
        code = (odata.code if odata is not None and odata.code else None) or (error.reason or str(status))
        message = (odata.message if odata is not None and odata.message else None) or _first_line(error.message)
        retriable = status in (408, 429) or status >= 500 or code in TRANSIENT_CODES
        return AzureFailure(code=code, message=message, retriable=retriable, status=status)
    if isinstance(error, ClientAuthenticationError):
        # Raised by the credential itself (no token): a configuration problem, not a transient one.
        return AzureFailure(code="AuthenticationFailed", message=_first_line(str(error)), retriable=False)
    if isinstance(error, ServiceRequestError | ServiceResponseError | OSError):
        return AzureFailure(code="NetworkError", message=_first_line(str(error)), retriable=True)
    if isinstance(error, HttpResponseError):
        # An LRO that ended in Failed/Canceled carries the operation's error but no HTTP status of its own.
        odata = error.error
        code = odata.code if odata is not None and odata.code else "OperationFailed"
        message = odata.message if odata is not None and odata.message else _first_line(error.message)
        return AzureFailure(code=code, message=message, retriable=code in TRANSIENT_CODES, status=None)
    raise error

"""Azure failures as values: Azure's error code and message plus whether retrying later can help.

By the time an exception reaches here azure-core's retry policy has already retried throttling (honouring
Retry-After), 5xx and network errors with backoff; what is left either needs time (report and requeue with a growing
delay) or needs a person (a name taken, a quota: Degraded with Azure's own words). A retriable failure that lasts is
still shown: `symptom` names what a person reads in the status (throttled, Azure unavailable, or Azure's code).
"""

from __future__ import annotations

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from fabrikam.operator.azure.codes import OPERATION_FAILED, AzureFailure, is_retriable
from fabrikam.operator.azure.codes import THROTTLED as THROTTLED
from fabrikam.operator.azure.codes import UNAVAILABLE as UNAVAILABLE


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def classify(error: Exception) -> AzureFailure:
    """Turns whatever the SDK or credential raised into a failure value."""
    if isinstance(error, HttpResponseError) and error.status_code is not None and error.status_code >= 400:
        status = int(error.status_code)
        odata = error.error
        code = (odata.code if odata is not None and odata.code else None) or (error.reason or str(status))
        message = (odata.message if odata is not None and odata.message else None) or _first_line(error.message)
        return AzureFailure(code=code, message=message, retriable=is_retriable(code, status), status=status)
    if isinstance(error, ClientAuthenticationError):
        # Raised by the credential itself (no token): a configuration problem, not a transient one.
        return AzureFailure(code="AuthenticationFailed", message=_first_line(str(error)), retriable=False)
    if isinstance(error, ServiceRequestError | ServiceResponseError | OSError):
        return AzureFailure(code="NetworkError", message=_first_line(str(error)), retriable=True)
    if isinstance(error, HttpResponseError):
        # A long-running operation that ended Failed or Canceled: azure-core raises it with the last poll's response
        # (an HTTP 200 whose body holds the operation's error), so the operation's code decides, not that 200.
        odata = error.error
        code = odata.code if odata is not None and odata.code else OPERATION_FAILED
        message = odata.message if odata is not None and odata.message else _first_line(error.message)
        return AzureFailure(code=code, message=message, retriable=is_retriable(code, None), status=None)
    raise error

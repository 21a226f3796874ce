"""What Azure's failures mean, as plain values: which codes retrying can fix, what a lasting one is reported as, and
a failure as the operator keeps it. Pure (no SDK): conditions and results read these; errors.py maps the SDK's
exceptions onto them.
"""

from __future__ import annotations

from dataclasses import dataclass

# 4xx codes for conditions that clear with time or with someone's action elsewhere, retried as Azure Service Operator
# does (Azure/azure-service-operator v2/internal/reconcilers/arm/errorclassification/error_classifier.go,
# `classifyCloudError`: AuthorizationFailed, MissingSubscriptionRegistration, ResourceGroupNotFound, ResourceNotFound,
# ... are `ErrorRetryable`). A role assignment whose scope is still being created is answered 404 ResourceNotFound; a
# permission just granted takes minutes to replicate; a resource provider is being registered.
RETRIABLE_CODES = frozenset(
    {
        "AnotherOperationInProgress",
        "AuthorizationFailed",
        "Conflict",
        "LinkedAuthorizationFailed",
        "MissingRegistrationForLocation",
        "MissingSubscriptionRegistration",
        "OperationNotAllowed",
        "ParentResourceNotFound",
        # Cosmos DB takes one control-plane operation per account at a time (a key being regenerated, a database
        # being created) and answers 412 to any other until it ends.
        "PreconditionFailed",
        "PrincipalNotFound",
        "ResourceGroupBeingDeleted",
        "ResourceGroupNotFound",
        "ResourceNotFound",
        "RetryableError",
        "SubscriptionNotRegistered",
    }
)
# Codes ARM throttling answers with (with HTTP 429 and Retry-After).
THROTTLING_CODES = frozenset({"SubscriptionRequestsThrottled", "TooManyRequests", "TooManyRequestsReceived"})
# Codes of Azure failing on its side: a long-running operation that ended Failed carries no HTTP status of its own.
SERVER_CODES = frozenset(
    {
        "BadGateway",
        "GatewayTimeout",
        "InternalError",
        "InternalServerError",
        "NetworkError",
        "OperationTimedOut",
        "RequestTimeout",
        "ServiceUnavailable",
    }
)
# A long-running operation that ended Failed or Canceled without saying why: retried, as ASO does with a missing code.
OPERATION_FAILED = "OperationFailed"

# Reasons a lasting retriable failure is reported under; any other retriable failure keeps Azure's own code.
THROTTLED = "AzureThrottled"
UNAVAILABLE = "AzureUnavailable"


def is_retriable(code: str, status: int | None) -> bool:
    """`status` None: no HTTP answer (network) or a long-running operation that ended Failed with this code."""
    if status is not None and (status in (408, 429) or status >= 500):
        return True
    return code in RETRIABLE_CODES or code in THROTTLING_CODES or code in SERVER_CODES or code == OPERATION_FAILED


def symptom(code: str, status: int | None) -> str:
    """What a retriable failure that keeps coming back means to a person: throttled, Azure unavailable, or (a
    permission, a registration, a scope still missing) Azure's own code, whose message says what to do."""
    if status == 429 or code in THROTTLING_CODES:
        return THROTTLED
    if (status is not None and (status == 408 or status >= 500)) or code in SERVER_CODES:
        return UNAVAILABLE
    return code


@dataclass(frozen=True)
class AzureFailure:
    code: str
    message: str
    retriable: bool
    # Azure's HTTP status; None for no answer (network, credential) and for a long-running operation that failed.
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

    @property
    def symptom(self) -> str:
        return symptom(self.code, self.status)

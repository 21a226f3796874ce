"""Given what the SDK raised, this failure: retried (and under which symptom it is shown if it lasts) or not."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from fabrikam.operator.azure.errors import THROTTLED, UNAVAILABLE, classify


class _Response:
    """What azure-core reads of an HTTP response to build its exception: status, reason and body."""

    def __init__(self, status: int, body: object, reason: str = "") -> None:
        self.status_code, self.reason, self._text = status, reason, json.dumps(body) if body is not None else ""

    def text(self) -> str:
        return self._text


def _arm_error(status: int, code: str, message: str = "Azure's words") -> HttpResponseError:
    exception = ResourceNotFoundError if status == 404 else HttpResponseError
    return exception(response=_Response(status, {"error": {"code": code, "message": message}}))


@pytest.mark.parametrize(
    ("status", "code", "retriable", "symptom"),
    [
        # Retried as Azure Service Operator retries them: time or someone else's action clears them.
        (404, "ResourceNotFound", True, "ResourceNotFound"),
        (403, "AuthorizationFailed", True, "AuthorizationFailed"),
        (403, "LinkedAuthorizationFailed", True, "LinkedAuthorizationFailed"),
        (404, "ResourceGroupNotFound", True, "ResourceGroupNotFound"),
        (409, "MissingSubscriptionRegistration", True, "MissingSubscriptionRegistration"),
        (404, "ParentResourceNotFound", True, "ParentResourceNotFound"),
        (400, "PrincipalNotFound", True, "PrincipalNotFound"),
        (409, "AnotherOperationInProgress", True, "AnotherOperationInProgress"),
        (409, "Conflict", True, "Conflict"),
        # Throttling and Azure's own failures, whatever the code says.
        (429, "SubscriptionRequestsThrottled", True, THROTTLED),
        (429, "TooManyRequests", True, THROTTLED),
        (500, "InternalServerError", True, UNAVAILABLE),
        (503, "ServiceUnavailable", True, UNAVAILABLE),
        (502, "SomethingNew", True, UNAVAILABLE),
        (408, "RequestTimeout", True, UNAVAILABLE),
        # Only a change of the spec helps: retrying would send the same refused request.
        (409, "NameNotAvailable", False, None),
        (400, "BadRequest", False, None),
        (400, "InvalidParameter", False, None),
        (409, "RoleAssignmentUpdateNotPermitted", False, None),
        (401, "InvalidAuthenticationToken", False, None),
    ],
)
def test_arm_answers_are_classified_by_status_and_code(
    status: int, code: str, retriable: bool, symptom: str | None
) -> None:
    failure = classify(_arm_error(status, code))

    assert (failure.code, failure.message, failure.status) == (code, "Azure's words", status)
    assert failure.retriable == retriable
    if retriable:
        assert failure.symptom == symptom


@pytest.mark.parametrize(
    ("code", "retriable", "symptom"),
    [
        ("InternalServerError", True, UNAVAILABLE),
        ("Conflict", True, "Conflict"),
        ("ResourceNotFound", True, "ResourceNotFound"),
        ("BadRequest", False, None),
        ("InvalidTemplateDeployment", False, None),
    ],
)
def test_a_failed_operation_is_classified_by_its_error_not_by_the_polls_200(
    code: str, retriable: bool, symptom: str | None
) -> None:
    # What azure-core raises when the poll says Failed: the poll's own response (HTTP 200) holding the error.
    poll = _Response(200, {"status": "Failed", "error": {"code": code, "message": "the operation failed"}}, "OK")

    failure = classify(HttpResponseError(response=poll))

    assert (failure.code, failure.message, failure.status, failure.retriable) == (
        code,
        "the operation failed",
        None,
        retriable,
    )
    if retriable:
        assert failure.symptom == symptom


def test_a_failed_operation_without_an_error_is_retried() -> None:
    # A resource polled by its provisioningState ends Failed with no error object: nothing says a person must act.
    poll = _Response(200, {"properties": {"provisioningState": "Failed"}}, "OK")

    failure = classify(HttpResponseError(response=poll))

    assert (failure.code, failure.retriable, failure.symptom) == ("OperationFailed", True, "OperationFailed")


def test_no_answer_is_azure_unavailable_and_no_token_needs_a_person() -> None:
    network = classify(ServiceRequestError("Cannot connect to host management.azure.com:443"))
    credential = classify(ClientAuthenticationError("WorkloadIdentityCredential: no token file"))

    assert (network.code, network.retriable, network.symptom, network.category) == (
        "NetworkError",
        True,
        UNAVAILABLE,
        "network_error",
    )
    assert (credential.code, credential.retriable, credential.category) == ("AuthenticationFailed", False, "auth_error")


def test_what_is_not_an_azure_failure_is_raised_again() -> None:
    with pytest.raises(KeyError):
        classify(KeyError("a bug"))

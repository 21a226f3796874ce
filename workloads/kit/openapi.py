"""Every answer a route can give, declared in its service's OpenAPI, so a client (and the schema fuzzing in the
test suite) finds each status with the shape of its body.

FastAPI documents a route's success and its 422; the errors that the kit adds to every route of a kind (a
token check, a JSON body, a dependency that is down) are declared here in one pure pass over the generated
document, and the errors particular to a route (a 404, a 409) by the route itself with `declared(...)`.
"""

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """Why a request was refused or failed, in words a caller can act on (FastAPI's `HTTPException` body)."""

    detail: str = Field(description="The reason")


REASONS = {
    400: "The body could not be read as JSON text",
    401: "No valid bearer token (`WWW-Authenticate: Bearer`)",
    403: "The token lacks the role or the right this needs",
    404: "No such resource",
    409: "The request conflicts with the resource's state",
    429: "Rate limit exceeded; retry after `Retry-After` seconds",
    503: "A dependency is unavailable or the service is overloaded; retry after `Retry-After` seconds",
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# The success of a route that answers with `EventSourceResponse` (which names no media type FastAPI could show).
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-sent events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}
}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """FastAPI's 422 body, for the routes that validate what they read themselves."""

    detail: list[FieldError]


def declared(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's own error answers, for its decorator's `responses`."""
    return {status: {"model": Problem, "description": REASONS[status]} for status in statuses}


def _problem(status: int) -> dict[str, Any]:
    return {"description": REASONS[status], "content": {"application/json": {"schema": PROBLEM_REF}}}


def _kit_errors(operation: dict[str, Any]) -> list[int]:
    """What the kit answers for this operation whatever the route does: 503 from the app's handlers for a full
    pool or an unreachable Redis (not on the health routes: they touch no dependency, or declare their own 503);
    401 and 403 from the token check; 400 from FastAPI for a body that is not text."""
    statuses = [] if "health" in operation.get("tags", ()) else [503]
    if operation.get("security"):
        statuses += [401, 403]
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        statuses.append(400)
    return statuses


def with_kit_errors(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the kit's errors declared on every operation; a route's own declaration of a status wins.
    Idempotent, so it may run on the cached document each time it is served."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status in _kit_errors(operation):
                responses.setdefault(str(status), _problem(status))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema())
    return document

"""Refuses a JSON body whose strings are not Unicode text, with a 422 saying where, before any route reads it.

Python's json module, which parses request bodies, takes an escaped lone surrogate (`"\\ud800"`) for a string
that nothing can encode again: Redis, the PII cipher, PostgreSQL and even the 422 that echoes the field back
all fail on it, each with a 500. jiter (pydantic's parser) refuses such a string; it runs only on the rare body
that holds a surrogate escape at all, so the hot path pays one byte search.
"""

import json
import re

import pydantic_core
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def not_unicode(body: bytes) -> str | None:
    """Why `body` is JSON that Python accepts but that is not Unicode text; None when it is, or is not JSON at
    all (the route then answers its own 422)."""
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        pydantic_core.from_json(body)
    except ValueError as error:
        try:
            json.loads(body)
        except ValueError:
            return None
        return str(error)
    return None


def _is_json(scope: Scope) -> bool:
    content_type = next((value for key, value in scope["headers"] if key == b"content-type"), b"")
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")


class UnicodeJsonBodies:
    """ASGI middleware: buffers a JSON request's body, refuses it when `not_unicode`, else replays it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        more = True
        while more:
            message = await receive()
            received.append(message)
            more = message["type"] == "http.request" and message.get("more_body", False)
        reason = not_unicode(b"".join(message.get("body", b"") for message in received))
        if reason is not None:
            why = f"strings must be Unicode text, with no unpaired surrogate escape (\\uD800-\\uDFFF): {reason}"
            error = {"type": "json_invalid", "loc": ["body"], "msg": why}
            body = json.dumps({"detail": [error]}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 422, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)

"""One pure ASGI middleware for correlation ids and request metrics; cheap enough for the hot path."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabrikam.workloads.kit import correlation
from fabrikam.workloads.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

_HEADER = correlation.HEADER.encode()


class CorrelationAndMetrics:
    """Adopts or creates the correlation id, echoes it back, and records count and latency per route."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((value for key, value in scope["headers"] if key == _HEADER), b"")
        correlation_id = incoming.decode("latin-1")[:64] or correlation.new_id()
        token = correlation.current.set(correlation_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (_HEADER, correlation_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], template, str(status)).inc()
            HTTP_LATENCY.labels(self.service, template).observe(time.perf_counter() - started)
            correlation.current.reset(token)

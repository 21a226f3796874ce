"""The delivery service as its own process, with one fault point: it SIGKILLs itself at a publish.

`KILL_AT=before:N` dies as it is about to make its N-th publish (the stage change is written, and its outbox
entry with it, but the broker has not seen the message); `KILL_AT=after:N` dies right after the broker accepted
the N-th (the outbox entry is not removed yet). Both count the publishes made once the workers take messages;
`KILL_AT=drain:N` dies before the N-th publish of the startup drain instead (a crash while recovering from the
last one). Every publish of the delivery service is an outbox relay send, so these are the crashes the outbox
exists for. Without `KILL_AT` it is the plain service. The service is built exactly as `fabrikam-svc delivery`
builds it; only the broker is wrapped.

Run as a script by `test_workloads_delivery_kill.py`, configured like the service (`FABRIKAM_*`).
"""

import os
import signal
from typing import Any

import uvicorn

from fabrikam.workloads.delivery.service import build
from fabrikam.workloads.kit import logs
from fabrikam.workloads.kit.messaging.message import Message
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import ServiceSettings


class KillsItself:
    """The real broker, but the process dies at the publish `KILL_AT` names."""

    def __init__(self, broker: Broker, kill_at: str) -> None:
        self._broker = broker
        when, _, count = kill_at.partition(":")
        self._when = when
        self._at = int(count) if count else 0
        self._published = 0
        self._working = False  # the startup drain runs before the workers' first receive

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    async def receive(self, queue: str, max_messages: int, wait_seconds: float) -> Any:
        self._working = True
        return await self._broker.receive(queue, max_messages, wait_seconds)

    async def publish(self, queue: str, message: Message) -> bool:
        counted = self._working == (self._when != "drain")
        self._published += counted
        due = counted and self._published == self._at
        if due and self._when in ("before", "drain"):
            os.kill(os.getpid(), signal.SIGKILL)
        added = await self._broker.publish(queue, message)
        if due and self._when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return added


def main() -> None:
    settings = ServiceSettings(service="delivery")
    logs.configure(settings.service, settings.log_level)
    runtime = Runtime.from_settings(settings)
    broker = KillsItself(runtime.broker, os.environ.get("KILL_AT", ""))
    app = create_app(Runtime(settings, runtime.redis, broker), build)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()

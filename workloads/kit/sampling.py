"""Gauges read from a store in the background, every few seconds: reading Redis or a broker while Prometheus
scrapes would make `/metrics` wait on them, and fail with them."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0


async def every(seconds: float, sample: Callable[[], Awaitable[None]], what: str) -> None:
    """Run `sample` now, then every `seconds` until cancelled. A failure is logged once until a sample succeeds
    again, and the gauges keep their last values meanwhile (a store that is down shows in readiness)."""
    failing = False
    while True:
        try:
            await sample()
            failing = False
        except Exception as error:
            if not failing:
                log.warning("sampling failed; tried again", extra={"fields": {"what": what, "error": repr(error)}})
            failing = True
        await asyncio.sleep(seconds)


class Sampler:
    """`every` as a background task that a service starts and stops with its lifespan."""

    def __init__(self, what: str, sample: Callable[[], Awaitable[None]], seconds: float = SAMPLE_SECONDS) -> None:
        self._what = what
        self._sample = sample
        self._seconds = seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(every(self._seconds, self._sample, self._what))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

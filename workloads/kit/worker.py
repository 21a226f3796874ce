"""Runs message handlers with bounded concurrency, lock renewal, dead-lettering and graceful shutdown."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from pydantic import ValidationError

from fabrikam.workloads.kit import correlation, sampling, tracing
from fabrikam.workloads.kit.messaging.message import Message, Received
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.metrics import (
    HANDLERS_IN_FLIGHT,
    HANDLERS_LIMIT,
    MESSAGE_LATENCY,
    MESSAGES,
    QUEUE_DEAD_LETTERS,
    QUEUE_MESSAGES,
    QUEUE_OLDEST_AGE,
)

log = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[None]]


class PoisonMessage(Exception):
    """The message can never succeed (bad body, impossible request): dead-letter it with this reason."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description


class QueueWorker:
    """Consumes one queue; each message is handled once to completion, released, or dead-lettered."""

    def __init__(
        self,
        broker: Broker,
        queue: str,
        handlers: Mapping[str, Handler],
        *,
        service: str,
        concurrency: int,
        lock_seconds: float,
        grace_seconds: float,
        handler_timeout_seconds: float = 60.0,
        backlog_seconds: float = sampling.SAMPLE_SECONDS,
    ) -> None:
        self._broker = broker
        self._queue = queue
        self._handlers = handlers
        self._service = service
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._lock_seconds = lock_seconds
        self._grace_seconds = grace_seconds
        self._handler_timeout = handler_timeout_seconds
        self._stopping = asyncio.Event()
        self._receiving_done = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], Received] = {}
        self._started: dict[asyncio.Task[None], float] = {}
        self._backlog_seconds = backlog_seconds
        self._busy = HANDLERS_IN_FLIGHT.labels(service, queue)  # the labelled child, looked up once
        HANDLERS_LIMIT.labels(service, queue).set(concurrency)

    async def run(self) -> None:
        """Receive until asked to stop; broker outages are waited out with backoff, never fatal. The queue's
        backlog is sampled meanwhile: the consumer is the one that knows its queue is falling behind."""
        renewer = asyncio.create_task(self._renew_locks())
        backlog = asyncio.create_task(
            sampling.every(self._backlog_seconds, self._sample_backlog, f"{self._queue} backlog")
        )
        try:
            await self._receive_until_stopped()
        finally:
            self._receiving_done.set()
            renewer.cancel()
            backlog.cancel()

    async def _sample_backlog(self) -> None:
        backlog = await self._broker.backlog(self._queue)
        for state, count in (("waiting", backlog.waiting), ("in_flight", backlog.in_flight)):
            if count is not None:
                QUEUE_MESSAGES.labels(self._queue, state).set(count)
        if backlog.dead_lettered is not None:
            QUEUE_DEAD_LETTERS.labels(self._queue).set(backlog.dead_lettered)
        QUEUE_OLDEST_AGE.labels(self._queue).set(backlog.oldest_age_seconds)

    async def _receive_until_stopped(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            free = self._concurrency - len(self._in_flight)
            if free <= 0:
                await asyncio.wait(list(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                batch = await self._broker.receive(self._queue, min(free, 64), wait_seconds=0.5)
                backoff = 0.1
            except Exception as error:
                log.warning(
                    "receive failed; retrying",
                    extra={"fields": {"queue": self._queue, "error": repr(error)}},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if self._stopping.is_set():  # received while stopping: give it straight back
                for received in batch:
                    with contextlib.suppress(Exception):
                        await self._broker.release(received)
                break
            for received in batch:
                await self._slots.acquire()
                task = asyncio.create_task(self._process(received))
                self._in_flight[task] = received
                self._started[task] = time.monotonic()
                self._busy.inc()
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._started.pop(task, None)
        self._slots.release()
        self._busy.dec()

    async def _renew_locks(self) -> None:
        """One loop renews every message held longer than a third of the lock: no task per message. A handler
        past its deadline is cancelled instead: renewing forever would let one hung call (a dependency that never
        answers) hold its message and its slot for good; its lock then expires and the broker redelivers it."""
        while True:
            await asyncio.sleep(min(self._lock_seconds / 3, self._handler_timeout / 3))
            now = time.monotonic()
            threshold = now - self._lock_seconds / 3
            for task, started in list(self._started.items()):
                if now - started > self._handler_timeout:
                    log.warning(
                        "handler exceeded its deadline; cancelled, the broker redelivers the message",
                        extra={"fields": {"queue": self._queue, "messageId": self._in_flight[task].message.id}},
                    )
                    self._started.pop(task, None)  # not renewed again, not cancelled twice
                    task.cancel()
            held = [self._in_flight[t] for t, started in list(self._started.items()) if started <= threshold]
            for received in held:
                with contextlib.suppress(Exception):
                    await self._broker.renew_lock(received)

    async def stop(self) -> None:
        """Stop taking work, let in-flight messages finish within the grace period, release the rest."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._receiving_done.wait(), timeout=self._grace_seconds + 5)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=self._grace_seconds)
        unfinished = dict(self._in_flight)
        for task in unfinished:
            task.cancel()
        for task, received in unfinished.items():
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await self._broker.release(received)

    async def _process(self, received: Received) -> None:
        message = received.message
        token = correlation.current.set(message.headers.get(correlation.HEADER, message.id))
        started = time.perf_counter()
        outcome = "completed"
        try:
            with tracing.consuming(f"{self._queue} process", message.headers) as span:
                span.set_attribute("messaging.message.id", message.id)
                span.set_attribute("messaging.message.type", message.type)
                outcome = await self._handle(received)
        except asyncio.CancelledError:
            outcome = "released"
            raise
        except Exception as error:
            outcome = "unsettled"
            log.warning(
                "settling failed; the broker redelivers after the lock time",
                extra={"fields": {"queue": self._queue, "messageId": message.id, "error": repr(error)}},
            )
        finally:
            MESSAGES.labels(self._service, self._queue, message.type, outcome).inc()
            MESSAGE_LATENCY.labels(self._service, self._queue).observe(time.perf_counter() - started)
            correlation.current.reset(token)

    async def _handle(self, received: Received) -> str:
        message = received.message
        handler = self._handlers.get(message.type)
        try:
            if handler is None:
                raise PoisonMessage("UnknownMessageType", f"no handler for {message.type!r} on {self._queue}")
            try:
                await handler(message)
            except ValidationError as error:
                raise PoisonMessage("InvalidBody", str(error)) from error
        except PoisonMessage as poison:
            log.error(
                "dead-lettering message",
                extra={"fields": {"queue": self._queue, "messageId": message.id, "reason": poison.reason}},
            )
            await self._broker.dead_letter(received, poison.reason, poison.description)
            return "deadlettered"
        except Exception as error:
            log.warning(
                "handler failed; message released for redelivery",
                extra={
                    "fields": {
                        "queue": self._queue,
                        "messageId": message.id,
                        "deliveryCount": received.delivery_count,
                        "error": repr(error),
                    }
                },
            )
            with contextlib.suppress(Exception):
                await self._broker.release(received)
            return "released"
        await self._broker.complete(received)
        return "completed"

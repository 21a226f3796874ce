"""Off-hours (`spec.cost.offHours`): a daemon per platform re-checks its DroneServices the moment the window opens or
closes, not at their next resync (5 minutes by default), and says so in an Event on the platform.

The services decide for themselves from the spec and the clock (drone_service builds `ServiceFacts.off_hours`);
this only makes them look again at the right time. Nothing is stored: a restarted operator recomputes it all."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from fabrikam.operator.api import GROUP, VERSION
from fabrikam.operator.api.platform import OffHours
from fabrikam.operator.handlers import cluster_events, drone_service, indexes
from fabrikam.operator.handlers.context import Context
from fabrikam.operator.handlers.parsing import ParsedModels
from fabrikam.operator.handlers.runtime import RUNTIME, OffHoursWatch
from fabrikam.operator.render.off_hours import UnknownTimeZone, active, next_change, time_zone

PLURAL = "deliveryplatforms"
# The daemon sleeps on the monotonic clock toward a wall-clock instant: it looks at the clock again at least this
# often, so a wall clock set meanwhile (NTP, a resumed VM) delays a boundary by this much at most.
LONGEST_SLEEP = 600.0


@kopf.daemon(GROUP, VERSION, PLURAL, id="off-hours", cancellation_timeout=5.0)
async def follow_off_hours(
    *, name: str, body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Sleeps until the next boundary of the window (or a change of it), then re-checks the platform's services if
    the answer flipped. On its first look (a new platform, an operator start) it re-checks them whenever a window is
    set: a service rendered a moment before a boundary would otherwise wait for its resync."""
    context = Context(RUNTIME, indexes.Indexes.of(kwargs), logger)
    watch = context.runtime.off_hours[name] = OffHoursWatch()
    was_off: bool | None = None
    try:
        while not stopped:
            watch.wake.clear()  # before reading: a change arriving from here on wakes the sleep below
            current = indexes.one(kwargs["platforms"], name) or indexes.snapshot(body)
            watch.window = _window(current)
            spec = _off_hours(context.runtime.models, current)
            now = datetime.now(UTC)
            off = active(spec, now)
            if off != was_off and (was_off is not None or spec is not None):
                reason, message = announcement(spec, now)
                logger.info("%s: re-checking the platform's services", message)
                await drone_service.resync_each(context, context.indexes.services_of(name), azure=False)
                if off or was_off is not None:  # working hours need no word when nothing was scaled down before
                    await cluster_events.post(
                        context.runtime.kube(), current, type="Normal", reason=reason, message=message
                    )
            was_off = off
            await _sleep(watch.wake, stopped, _seconds_to_next_change(spec, now))
    finally:
        if context.runtime.off_hours.get(name) is watch:
            del context.runtime.off_hours[name]


@kopf.on.event(GROUP, VERSION, PLURAL, id="off-hours-window")
async def window_changed(*, type: str, name: str, body: kopf.Body, **_: Any) -> None:
    """A changed `spec.cost.offHours` wakes its platform's daemon now, instead of at the boundary of the old window
    it sleeps toward. (kopf updates the `platforms` index, which the daemon reads, before handlers run.)"""
    watch = RUNTIME.off_hours.get(name)
    if type != "DELETED" and watch is not None and _window(indexes.snapshot(body)) != watch.window:
        watch.wake.set()


def announcement(spec: OffHours | None, now: datetime) -> tuple[str, str]:
    """(reason, message) of the Event on the platform: which side of the window it is on, and until when."""
    if spec is None:
        return "WorkingHours", "no spec.cost.offHours: the services' autoscalers keep their own minimums"
    try:
        zone = time_zone(spec)
    except UnknownTimeZone as error:
        return "WorkingHours", f"spec.cost.offHours: {error}: the services' autoscalers keep their own minimums"
    until = next_change(spec, now)
    when = "further notice" if until is None else until.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
    if active(spec, now):
        return (
            "OffHours",
            f"off-hours until {when}: every service's autoscaler minimum is {spec.min_replicas} (spec.cost.offHours); "
            "the autoscalers remove the pods above it as the load allows",
        )
    return "WorkingHours", f"working hours until {when}: the services' autoscalers are back at their own minimums"


def _window(body: dict[str, Any]) -> Any:
    return ((body.get("spec") or {}).get("cost") or {}).get("offHours")


def _off_hours(models: ParsedModels, body: dict[str, Any]) -> OffHours | None:
    """The platform's window; none when its spec does not parse (its reconcile reports why)."""
    try:
        return models.platform(body).spec.cost.off_hours
    except ValidationError:
        return None


def _seconds_to_next_change(spec: OffHours | None, now: datetime) -> float | None:
    """None: nothing will change until the spec does."""
    try:
        until = next_change(spec, now) if spec is not None else None
    except UnknownTimeZone:
        return None
    return None if until is None else min(LONGEST_SLEEP, (until - now).total_seconds())


async def _sleep(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float | None) -> None:
    """Until `seconds` pass, the window changes, or kopf stops the daemon (which then returns instead of being
    cancelled: a cancelled daemon is a warning on the platform being deleted)."""
    waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()

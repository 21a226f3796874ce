"""Whether a platform is in its off-hours (`spec.cost.offHours`) at an instant, and when that next changes.

Pure: a spec and an aware instant in, a bool or an instant out. The windows are laid out in the zone's wall-clock
time and only then turned into instants, so they keep their local hours across daylight saving changes
(19:00-07:00 lasts 13 hours on the night the clocks go back, 11 on the night they go forward).

What the spec leaves open, decided here:
- `end` is the first `end` after `start`: earlier than `start` is the next morning, and `start == end` is a whole
  day, 24 wall-clock hours from `start` (an empty window would make the setting pointless; remove it instead).
- A weekend day (`weekends: true`) not listed in `days` is off-hours from its midnight until a window begun that
  day would end, so 19:00-07:00 on Mon-Fri is off from Friday 19:00 to Monday 07:00, not back at Sunday midnight.
- A time the clocks skip (02:30 on the spring-forward night) takes effect when they jump past it; a time they repeat
  (02:30 on the fall-back night) on its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fabrikam.operator.api.platform import OffHours

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKEND = ("Sat", "Sun")
# Windows are laid out from two days before the instant's local date (a window lasts at most two days) to ten days
# after: every listed day recurs within a week, so the next opening is always inside.
_DAYS_BEFORE, _DAYS_AFTER = 2, 10
# Off-hours without a break for longer than a week (plus any DST shift) cover every wall-clock time: they never end.
_ALWAYS = timedelta(days=8)
# No zone skips more than a day (Samoa skipped 30 December 2011).
_LONGEST_GAP_MINUTES = 25 * 60

Interval = tuple[datetime, datetime]


class UnknownTimeZone(ValueError):
    """`timeZone` names no zone of the IANA database (the apiserver checks its shape only)."""


def time_zone(spec: OffHours) -> ZoneInfo:
    try:
        return ZoneInfo(spec.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UnknownTimeZone(f"unknown time zone {spec.time_zone!r} (an IANA name such as Europe/Berlin)") from error


def is_off_hours(spec: OffHours, now: datetime) -> bool:
    """Whether `now` (an aware datetime) falls in the off-hours; raises UnknownTimeZone."""
    return any(begin <= now < end for begin, end in _windows(spec, now))


def next_change(spec: OffHours, now: datetime) -> datetime | None:
    """The next instant after `now` at which `is_off_hours` flips (in UTC); None when it never does (off-hours
    around the clock, e.g. `start == end` on every day). Raises UnknownTimeZone."""
    for begin, end in _windows(spec, now):
        if begin > now:
            return begin
        if now < end:
            return None if end - now > _ALWAYS else end
    raise AssertionError("a listed day recurs within the laid-out windows")  # days has at least one entry


def active(spec: OffHours | None, now: datetime) -> bool:
    """Whether the services get the off-hours minimum: never without the setting, nor with a time zone that does
    not exist (full capacity is the safe side; validate_platform reports the zone)."""
    if spec is None:
        return False
    try:
        return is_off_hours(spec, now)
    except UnknownTimeZone:
        return False


def _windows(spec: OffHours, now: datetime) -> list[Interval]:
    """The off-hours around `now` as sorted, disjoint [begin, end) instants; touching windows are one."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    zone = time_zone(spec)
    start, end = _clock(spec.start), _clock(spec.end)
    overnight = timedelta(days=1 if end <= start else 0)
    today = now.astimezone(zone).date()
    windows = []
    for offset in range(-_DAYS_BEFORE, _DAYS_AFTER + 1):
        day = today + timedelta(days=offset)
        weekday = WEEKDAYS[day.weekday()]
        closes = datetime.combine(day + overnight, end)
        if weekday in spec.days:
            opens = datetime.combine(day, start)
        elif spec.weekends and weekday in WEEKEND:
            opens, closes = datetime.combine(day, time()), max(closes, _midnight_after(day))
        else:
            continue
        begin, finish = _instant(opens, zone), _instant(closes, zone)
        if begin < finish:  # a window inside a skipped hour never happens
            windows.append((begin, finish))
    return _merged(windows)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time())


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant the zone's clocks show `wall`; for a time they skip, the instant they jump past it."""
    for minutes in range(_LONGEST_GAP_MINUTES):
        candidate = wall + timedelta(minutes=minutes)
        instant = candidate.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of a repeated time
        if instant.astimezone(zone).replace(tzinfo=None) == candidate:
            return instant
    raise AssertionError(f"{zone.key} skips more than a day after {wall}")


def _merged(windows: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for begin, end in sorted(windows):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged

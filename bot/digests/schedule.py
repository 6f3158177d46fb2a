"""When a chat's digest is due: schedules, IANA time zones, and daylight saving.

A schedule is a wall-clock time in the chat's own zone ("daily 07:30", "weekly mon 09:00").
Turning a wall-clock time into an instant is where daylight saving bites, so every
conversion goes through :func:`local_instant`:

- a time that does not exist (it falls in a spring-forward gap) moves to the first instant
  after the gap, so a digest is late by the length of the gap rather than skipped;
- a time that happens twice (a fall-back hour) means its first occurrence only, so the
  digest fires once.
"""

from __future__ import annotations

import difflib
import enum
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import ConfigError, UserInputError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ALIASES = {
    **{name: i for i, name in enumerate(WEEKDAYS)},
    **{name[:3]: i for i, name in enumerate(WEEKDAYS)},
    "tues": 1,
    "weds": 2,
    "thur": 3,
    "thurs": 3,
}
DEFAULT_TIME = time(8, 0)
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")
_AM_PM = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?$", re.IGNORECASE)
_DOTTED = re.compile(r"^(\d{1,2})[.h](\d{2})$")
_TIME_ISH = re.compile(r"^\d{1,2}([.:h]\d{1,2})?$|^\d{3,4}$")


class Frequency(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class Schedule:
    frequency: Frequency
    at: time  # wall-clock time in the chat's zone, minutes precision
    weekday: int | None = None  # 0 = Monday; only for weekly schedules

    def __post_init__(self) -> None:
        if (self.frequency is Frequency.WEEKLY) != (self.weekday is not None):
            raise ValueError("a weekly schedule needs a weekday and a daily one must not have one")

    @property
    def hhmm(self) -> str:
        return f"{self.at.hour:02d}:{self.at.minute:02d}"

    def describe(self) -> str:
        """For people: "daily at 08:00", "weekly on Monday at 09:00"."""
        if self.weekday is None:
            return f"daily at {self.hhmm}"
        return f"weekly on {WEEKDAYS[self.weekday].capitalize()} at {self.hhmm}"

    def to_text(self) -> str:
        """The canonical /subscribe arguments: parse_schedule(s.to_text()) == s."""
        if self.weekday is None:
            return f"daily {self.hhmm}"
        return f"weekly {WEEKDAYS[self.weekday][:3]} {self.hhmm}"

    def fires_on(self, day: date) -> bool:
        return self.weekday is None or day.weekday() == self.weekday


def daily(hour: int = 8, minute: int = 0) -> Schedule:
    return Schedule(Frequency.DAILY, time(hour, minute))


def weekly(weekday: int, hour: int = 8, minute: int = 0) -> Schedule:
    return Schedule(Frequency.WEEKLY, time(hour, minute), weekday)


# -- parsing what people type -------------------------------------------------------------


def parse_schedule(args: str) -> Schedule:
    """/subscribe's arguments: "", "daily", "daily 07:30", "07:30", "weekly mon 09:00"."""
    words = args.split()
    if not words:
        return Schedule(Frequency.DAILY, DEFAULT_TIME)
    head = words[0].lower()
    if head == Frequency.DAILY:
        return _daily_from(words[1:])
    if head == Frequency.WEEKLY:
        return _weekly_from(words[1:])
    if head in _WEEKDAY_ALIASES:
        return _weekly_from(words)
    if _looks_like_time(head):
        return _daily_from(words)
    raise UserInputError(
        f'I don\'t know how often "{words[0]}" is. Use "daily" or "weekly", for example '
        "/subscribe daily 07:30 or /subscribe weekly mon 09:00."
    )


def _daily_from(words: list[str]) -> Schedule:
    if len(words) > 1:
        raise UserInputError(
            "A daily digest needs just one time, e.g. /subscribe daily 07:30 "
            f'(not "{" ".join(words)}").'
        )
    at = parse_time(words[0]) if words else DEFAULT_TIME
    return Schedule(Frequency.DAILY, at)


def _weekly_from(words: list[str]) -> Schedule:
    if not words:
        return Schedule(Frequency.WEEKLY, DEFAULT_TIME, 0)
    if len(words) > 2:
        raise UserInputError(
            "A weekly digest needs a weekday and a time, e.g. /subscribe weekly mon 09:00."
        )
    weekday = parse_weekday(words[0])
    at = parse_time(words[1]) if len(words) == 2 else DEFAULT_TIME
    return Schedule(Frequency.WEEKLY, at, weekday)


def parse_weekday(text: str) -> int:
    key = text.lower().rstrip(".")
    if key in _WEEKDAY_ALIASES:
        return _WEEKDAY_ALIASES[key]
    close = difflib.get_close_matches(key, WEEKDAYS, n=1, cutoff=0.6)
    hint = f' Did you mean "{close[0][:3]}" ({close[0].capitalize()})?' if close else ""
    raise UserInputError(
        f'"{text}" is not a weekday I know. Use mon, tue, wed, thu, fri, sat or sun.{hint}'
    )


def parse_time(text: str) -> time:
    """A 24-hour "HH:MM" (or "H:MM"); anything else gets an answer saying what to type."""
    match = _HH_MM.match(text)
    if match is None:
        raise UserInputError(_time_advice(text))
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23:
        raise UserInputError(
            f'"{text}" is not a time of day: hours run from 00 to 23 (midnight is 00:00).'
        )
    if minute > 59:
        raise UserInputError(f'"{text}" is not a time of day: minutes run from 00 to 59.')
    return time(hour, minute)


def _time_advice(text: str) -> str:
    ampm = _AM_PM.match(text.strip())
    if ampm:
        hour, minute = int(ampm.group(1)), int(ampm.group(2) or 0)
        if 1 <= hour <= 12 and minute <= 59:
            hour24 = hour % 12 + (12 if ampm.group(3).lower() == "p" else 0)
            return (
                f'Please give times on the 24-hour clock as HH:MM: for "{text}" '
                f"type {hour24:02d}:{minute:02d}."
            )
    dotted = _DOTTED.match(text.strip())
    if dotted and int(dotted.group(1)) <= 23 and int(dotted.group(2)) <= 59:
        hour, minute = int(dotted.group(1)), int(dotted.group(2))
        return f"Please write times as HH:MM, with a colon: type {hour:02d}:{minute:02d}."
    return f'"{text}" is not a time I understand. Use the 24-hour clock, HH:MM: 07:30, 19:00.'


def _looks_like_time(word: str) -> bool:
    return bool(_HH_MM.match(word) or _AM_PM.match(word) or _TIME_ISH.match(word))


# -- time zones -----------------------------------------------------------------------------


# zoneinfo also opens files in the zone folder that name no place: the machine's own zone
# ("localtime", which differs from machine to machine), the rules file "posixrules", tzdata's
# placeholder "Factory" and the "posix/" and "right/" copies. None is a chat's time zone.
_NOT_PLACES = frozenset({"localtime", "posixrules", "factory"})
_NOT_PLACE_FOLDERS = ("posix/", "right/")
_IANA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")


def is_place_zone(name: str) -> bool:
    """True for an IANA zone name of a place or offset (Europe/London, UTC, Etc/GMT+5)."""
    lower = name.lower()
    return (
        _IANA_NAME.fullmatch(name) is not None
        and lower not in _NOT_PLACES
        and not lower.startswith(_NOT_PLACE_FOLDERS)
    )


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every IANA name, keyed by its lower-case form so "europe/london" finds it."""
    return {name.lower(): name for name in available_timezones() if is_place_zone(name)}


@functools.cache
def _packaged_zones() -> frozenset[str]:
    """The zone names the tzdata package lists: a file read, where listing every zone
    installed on the system (``available_timezones``) walks the tz database."""
    try:
        return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())
    except (ImportError, OSError):
        return frozenset()


def canonical_timezone(name: str) -> str:
    """The IANA spelling of ``name`` (any case), or a UserInputError with suggestions."""
    cleaned = name.strip().replace(" ", "_")
    if cleaned in _packaged_zones() and is_place_zone(cleaned):
        return cleaned  # already spelt right: the start-up default usually is
    found = _zone_names().get(cleaned.lower())
    if found is None:
        raise UserInputError(_unknown_zone_message(name, timezone_suggestions(cleaned)))
    return found


def resolve_timezone(name: str) -> ZoneInfo:
    """A zone by its IANA name (any case); UserInputError for names tz data doesn't have."""
    try:
        return ZoneInfo(canonical_timezone(name))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise UserInputError(_unknown_zone_message(name, [])) from err


def configured_timezone(name: str, setting: str = "INQUIRY_BOT_TIMEZONE") -> str:
    """The operator's default zone, checked at start-up: a ConfigError names the setting."""
    try:
        return canonical_timezone(name)
    except UserInputError as err:
        raise ConfigError(f"{setting}: {err}") from err


def timezone_suggestions(name: str, limit: int = 3) -> list[str]:
    names = _zone_names()
    key = name.strip().lower().replace(" ", "_")
    close = difflib.get_close_matches(key, list(names), n=limit, cutoff=0.6)
    if len(close) < limit and "/" not in key:
        # "london" should find "Europe/London": compare with the part after the region too.
        by_city: dict[str, list[str]] = {}
        for lower in names:
            by_city.setdefault(lower.rsplit("/", 1)[-1], []).append(lower)
        for city in difflib.get_close_matches(key, list(by_city), n=limit, cutoff=0.7):
            close.extend(z for z in sorted(by_city[city]) if z not in close)
    return [names[lower] for lower in close[:limit]]


def _unknown_zone_message(name: str, suggestions: list[str]) -> str:
    text = f'"{name}" is not a time zone I know. Use an IANA name such as Europe/London.'
    if suggestions:
        text += " Did you mean " + ", ".join(suggestions) + "?"
    return text


# -- from wall-clock times to instants ------------------------------------------------------


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant when ``tz``'s clocks read ``at`` on ``day`` (see the module notes)."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # exists; fold=0 is the earlier of two in a fall-back hour
    return _end_of_gap(wall, tz)


def _end_of_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant after the gap that swallowed ``wall``.

    With fold=1 the wall time is read with the offset after the change, which puts it before
    the change; with fold=0, with the offset before it, which puts it after. The change lies
    between: find the first second whose offset is the later one.
    """
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if lo > hi:
        lo, hi = hi, lo
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


def most_recent_occurrence(schedule: Schedule, tz: ZoneInfo, now: datetime) -> datetime:
    """The latest scheduled instant at or before ``now`` (aware, UTC)."""
    today = now.astimezone(tz).date()
    best: datetime | None = None
    # Yesterday's time may still be the latest for a daily schedule; a week back for weekly.
    for back in range(3 if schedule.weekday is None else 9):
        day = today - timedelta(days=back)
        if not schedule.fires_on(day):
            continue
        instant = local_instant(day, schedule.at, tz)
        if instant <= now and (best is None or instant > best):
            best = instant
    if best is None:  # only if tz data skips more than a week, which no zone does
        raise ValueError(f"no occurrence of {schedule.describe()} within a week before {now}")
    return best


def next_occurrence(schedule: Schedule, tz: ZoneInfo, now: datetime) -> datetime:
    """The first scheduled instant strictly after ``now`` (aware, UTC)."""
    today = now.astimezone(tz).date()
    best: datetime | None = None
    for ahead in range(-1, 9):
        day = today + timedelta(days=ahead)
        if not schedule.fires_on(day):
            continue
        instant = local_instant(day, schedule.at, tz)
        if instant > now and (best is None or instant < best):
            best = instant
    if best is None:  # only if tz data skips more than a week, which no zone does
        raise ValueError(f"no occurrence of {schedule.describe()} within a week of {now}")
    return best


def describe_local(instant: datetime, tz: ZoneInfo) -> str:
    """For people: "Tuesday 2 April 2024 at 08:00 BST"."""
    local = instant.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} {local.tzname()}"

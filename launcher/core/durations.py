"""Durations as users write them: `30m`, `8h`, `7d`, `2w`, or ISO 8601 (`PT8H`, `P1DT2H`).

Kept tiny and strict so that "8 hours" and "8hours" are rejected with a clear message rather
than silently read as something else.
"""

from __future__ import annotations

import re
from datetime import timedelta

_SHORT = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_ISO = re.compile(
    r"^P(?!$)(?:(?P<w>\d{1,6})W)?(?:(?P<d>\d{1,6})D)?"
    r"(?:T(?=\d)(?:(?P<h>\d{1,6})H)?(?:(?P<m>\d{1,6})M)?(?:(?P<s>\d{1,6})S)?)?$"
)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

DURATION_HINT = "use a number with m, h, d or w (like 8h or 7d), or ISO 8601 (like PT8H)"


class DurationError(ValueError):
    """A duration string that is not one of the accepted forms."""


def parse_duration(text: object) -> timedelta:
    """Parse a duration; raise DurationError with a hint when it is not understood."""
    if not isinstance(text, str):
        raise DurationError(f"{text!r} is not a duration: {DURATION_HINT}")
    short = _SHORT.match(text)
    if short:
        value = timedelta(**{_UNITS[short.group(2)]: int(short.group(1))})
    else:
        iso = _ISO.match(text.strip().upper())
        if not iso:
            raise DurationError(f"{text!r} is not a duration: {DURATION_HINT}")
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        value = timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    if value <= timedelta(0):
        raise DurationError(f"{text!r} is not a positive duration")
    return value


def format_duration(value: timedelta) -> str:
    """Render a duration the short way a user would write it (`7d`, `36h`, `90m`)."""
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

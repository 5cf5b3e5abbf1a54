"""Points in time as launcher reads and writes them: one set of rules everywhere.

Read: an ISO 8601 date and time with a time zone (`2026-12-01T09:00:00Z`, `…+01:00`). A time
without a zone is refused rather than read as the machine's local time, whether it comes from a
request's `launch_at`, a `--now` option, a deployment payload or an EC2 tag.
Written: `utc_iso` for machines (payloads, tags, JSON) and `utc_text` for people (comments,
tables, labels), both in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

EXAMPLE = "2026-12-01T09:00:00Z"
_TEXT_FORMAT = "%Y-%m-%d %H:%M UTC"


class InstantError(ValueError):
    """Text that is not a date and time with a time zone; the message says which and how."""


def parse_instant(text: str) -> datetime:
    """A date and time with a time zone (`T` between date and time); raise InstantError."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InstantError(
            f"{text!r} is not an ISO 8601 date and time (write it like {EXAMPLE})"
        ) from None
    if when.tzinfo is None or "T" not in text.upper():
        raise InstantError(f"{text} has no time zone: add Z for UTC or an offset like +01:00")
    return when


def instant_or_none(value: object) -> datetime | None:
    """`parse_instant` for what launcher wrote itself (payloads, tags): None when absent or
    unreadable, so a damaged record never yields a guessed time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_instant(value)
    except InstantError:
        return None


def utc_iso(when: datetime) -> str:
    """UTC ISO 8601 with a Z, to the second: the form of tags and payloads."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def utc_text(when: datetime) -> str:
    """`2026-12-01 09:00 UTC`: the form people read (comments, tables, labels)."""
    return when.astimezone(UTC).strftime(_TEXT_FORMAT)


def parse_utc_text(text: str) -> datetime | None:
    """The time `utc_text` wrote, or None."""
    try:
        return datetime.strptime(text, _TEXT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None

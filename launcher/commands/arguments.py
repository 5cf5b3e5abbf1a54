"""Option types shared by every command, so `--now` and durations read the same everywhere."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from launcher.core.durations import DurationError, parse_duration
from launcher.core.times import EXAMPLE, InstantError, parse_instant


def instant(text: str) -> datetime:
    """An ISO 8601 date and time with a time zone (`--now 2026-12-01T09:00:00Z`)."""
    try:
        return parse_instant(text)
    except InstantError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def duration(text: str) -> timedelta:
    """A duration as requests write it (`24h`, `7d`, `PT8H`)."""
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def durations(text: str) -> tuple[timedelta, ...]:
    """A comma-separated list of durations (`24h,1h`)."""
    return tuple(duration(part) for part in text.split(",") if part.strip())


def add_now(parser: argparse.ArgumentParser, what: str) -> None:
    """`--now ISO`: the time the command acts or reports at (default: the clock)."""
    parser.add_argument(
        "--now",
        type=instant,
        metavar="ISO",
        help=f"the time to {what} (default: the clock), e.g. {EXAMPLE}",
    )

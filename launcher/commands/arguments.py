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


def add_rehearsal_now(parser: argparse.ArgumentParser) -> None:
    """`--now ISO` for a command that acts: accepted with `--dry-run` only (see `now_refusal`)."""
    parser.add_argument(
        "--now",
        type=instant,
        metavar="ISO",
        help=f"with --dry-run only: rehearse as if it were this time, e.g. {EXAMPLE}",
    )


def now_refusal(command: str, now: datetime | None, dry_run: bool) -> str | None:
    """Why `--now` is refused: a command that acts uses the clock of the runner it runs on,
    never an "as of" time a caller could choose (scheduled launches early, everything expired,
    expiries far in the future); `--now` only rehearses, with `--dry-run`. None when fine."""
    if now is None or dry_run:
        return None
    return (
        f"launcher {command}: --now only rehearses: add --dry-run (a real run acts at the "
        "clock of the machine it runs on; see docs/security.md, Time)"
    )
